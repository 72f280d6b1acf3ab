"""Step land: fetch every target through the ModelArts client and land each response byte for byte."""
