-- Non-table step 0b: ENUM types for the context columns that repeat on every row of every table.
-- Run by normalize.py after registering the BodyRef context as the Arrow relation _bodies_arrow; used by
-- _bodies.sql. Each type holds the distinct values of one BodyRef field in this run.
--
-- Why: the Parquet writer hashes every string value into its per-column dictionary; for columns that hold a
-- handful of distinct values on millions of rows (snapshot_id, region, project_id, response_id) that hashing
-- was a third of the time spent writing child tables. An ENUM column is already dictionary-coded, so the writer
-- copies codes. The Parquet files are unchanged for readers: the columns are plain strings (VARCHAR).
CREATE TYPE snapshot_id_t AS ENUM (SELECT DISTINCT snapshot_id FROM _bodies_arrow WHERE snapshot_id IS NOT NULL);
CREATE TYPE region_t AS ENUM (SELECT DISTINCT region FROM _bodies_arrow WHERE region IS NOT NULL);
CREATE TYPE project_id_t AS ENUM (SELECT DISTINCT project_id FROM _bodies_arrow WHERE project_id IS NOT NULL);
CREATE TYPE response_id_t AS ENUM (SELECT DISTINCT response_id FROM _bodies_arrow WHERE response_id IS NOT NULL);
