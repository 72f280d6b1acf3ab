-- Non-table step 1a: the bytes of every show_pool body, staged in TABLE _show_raw before _items.sql cuts them.
-- Parameters: $show0 .. $show7 (VARCHAR[]): the distinct readable paths of show_pool bodies, dealt into 8 lists
-- (one read_blob scan runs on one thread; the branches of a UNION ALL run in parallel).
--
-- Why a staging table: read_blob yields one file per vector. A list body holds dozens of pools, so its vectors
-- fill up after unnest; a show_pool body holds one, and parsing and storing 1-row vectors cost ~25x more per
-- pool (20,000 show bodies: 2.1 s in _items without this step, 0.7 s with it). Scanning this table hands
-- _items.sql full vectors again.
--   path     VARCHAR  the body file (= BodyRef.path)
--   content  BLOB     its bytes, exactly as landed
SELECT filename AS path, content FROM read_blob($show0)
UNION ALL
SELECT filename AS path, content FROM read_blob($show1)
UNION ALL
SELECT filename AS path, content FROM read_blob($show2)
UNION ALL
SELECT filename AS path, content FROM read_blob($show3)
UNION ALL
SELECT filename AS path, content FROM read_blob($show4)
UNION ALL
SELECT filename AS path, content FROM read_blob($show5)
UNION ALL
SELECT filename AS path, content FROM read_blob($show6)
UNION ALL
SELECT filename AS path, content FROM read_blob($show7)
