"""Report exports: turn report tables into the XLSX workbook, CSV files and HTML page people open.

Usage: `export_reports([ReportTable(...), ...], out_dir)`; see `pipeline.reports.export`.
"""

from .export import FORMATS, HTML_FILE, WORKBOOK_FILE, export_reports
from .model import FORMAT_HINTS, ReportTable

__all__ = ["FORMATS", "FORMAT_HINTS", "HTML_FILE", "WORKBOOK_FILE", "ReportTable", "export_reports"]
