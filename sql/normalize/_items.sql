-- Non-table step 1: read every landed body file once and cut it into candidate pool documents.
-- normalize.py materializes this SELECT as TABLE _items, the input of _dups.sql, _docs.sql and
-- rejected_documents.sql. Reads TABLE _bodies (_bodies.sql).
--
-- Parameters
--   $list0 .. $list7  VARCHAR[]  the distinct readable paths of list_pools bodies
--                                ({"kind":"PoolList","items":[Pool...]}), dealt into 8 lists
-- show_pool bodies (one Pool each) come from TABLE _show_raw (_show_raw.sql).
-- Why 8 read_blob calls: one read_blob scan runs on one thread, and everything after it (cutting, parsing)
-- runs in that scan's pipeline; the branches of a UNION ALL run in parallel. 8 lists keep up to 8 cores busy
-- (a list may be empty).
-- Files are read with read_blob, not read_text: read_text stops the whole query on one body that is not valid
-- UTF-8; here each body is decoded with try(decode(...)), which gives NULL instead of an error.
--
-- Output: one row per candidate document (an `items[]` element of a list body, or a whole show_pool body),
-- plus one row for a body that yields no document (not read, not readable as JSON, or an empty `items`).
--   body_idx, snapshot_id, snapshot_at, region, project_id, source, path, response_id   from _bodies
--   is_doc        BOOLEAN  true for a candidate document; false for a whole-body row (a rejection, or the
--                          marker row of a list body whose `items` is empty: reason NULL, is_doc false)
--   item_index    INTEGER  0-based index in `items` for list bodies; NULL for show_pool bodies and for a
--                          whole-body row
--   doc_key       BIGINT   unique per row and increasing in input order: body_idx * 2^32 + item_index
--   pool_id       VARCHAR  metadata.name when it is a JSON string that is not blank (not only ASCII white space),
--                          else NULL; kept exactly as sent (not trimmed)
--   reason        VARCHAR  why the row is unusable (see rejected_documents.sql); NULL for a usable document
--                          (duplicates are found later, in _dups.sql)
--   excerpt       VARCHAR  for a rejected row: first 200 characters of the body (whole-body rejection; bytes
--                          that are not UTF-8 appear as \xNN escapes) or of the document's JSON; else NULL
--                          (a duplicate's excerpt is re-read by _dup_excerpts.sql). The raw document itself is not
--                          kept: the landing keeps the bytes, and copying 2 kB per pool here cost more than
--                          parsing it.
--   p             STRUCT   the document parsed once with the lenient schema below (NULL unless it is an object).
--                          from_json never fails on a well-formed document: a field of the wrong JSON type is
--                          NULL, or for a VARCHAR field the JSON text of the value ({"a":1}, 3, true). Counts stay
--                          VARCHAR here; table files convert them with pool_int (see _macros.sql).
--                          metadata.labels/annotations and status.resources.<state> stay JSON: their shape varies.
--   cn_mode_lower VARCHAR  spec.containernetwork.mode, the SDK's lowercase key (the schema reads the docs'
--                          spec.containerNetwork; JSON keys are case sensitive and a STRUCT cannot hold both).
--                          Extracted only when spec.containerNetwork.mode is absent and the document's text
--                          contains that key.
WITH raw AS (
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list0)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list1)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list2)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list3)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list4)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list5)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list6)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob($list7)
    UNION ALL
    SELECT path, 'show_pool' AS source, content FROM _show_raw
),
decoded AS (
    SELECT path, source, content, try(decode(content)) AS text
    FROM raw
),
split AS (
    -- '$.items[*]': the elements of a top-level object's `items` array, each as its JSON text; [] for anything
    -- else (no `items`, `items` not an array, a body that is not an object), NULL for text that is not JSON.
    -- A third cheaper than from_json(text, '{"items": "JSON[]"}'), which also builds a struct around the list.
    SELECT path, source, content, text,
           CASE WHEN source = 'list_pools' THEN try(json_extract(text, '$.items[*]')) END AS all_items
    FROM decoded
),
cut AS (
    SELECT path, source, content, text,
           CASE
               WHEN source = 'list_pools' THEN
                   CASE
                       WHEN len(all_items) > 0 THEN all_items
                       -- only for an empty result (rare): an empty `items` array, or no items array at all?
                       WHEN try(json_type(text, '$.items')) = 'ARRAY' THEN []::JSON[]
                   END
               WHEN json_valid(text) THEN [text::JSON]
           END AS doc_list
    FROM split
),
items AS (
    -- A body without a document list becomes one row with doc NULL and its reason; a list body with an empty
    -- `items` becomes one marker row (is_doc false, reason NULL), so that the join below sees the file was read.
    SELECT path, source,
           CASE WHEN doc_list IS NULL THEN
               CASE
                   WHEN text IS NULL THEN 'body is not valid UTF-8 text'
                   WHEN regexp_full_match(text, '\s*') THEN 'body is empty'
                   WHEN NOT json_valid(text) THEN 'body is not valid JSON'
                   WHEN json_type(text) <> 'OBJECT' THEN 'body is not a JSON object'
                   ELSE 'body has no items array'
               END
           END AS body_reason,
           CASE WHEN doc_list IS NULL THEN left(coalesce(text, content::VARCHAR), 200) END AS body_excerpt,
           len(doc_list) = 0 AS empty_list,
           unnest(CASE WHEN len(doc_list) > 0 THEN doc_list ELSE [NULL::JSON] END) AS doc,
           unnest(range(greatest(coalesce(len(doc_list), 1), 1))) AS idx
    FROM cut
),
parsed AS (
    SELECT *,
           coalesce(regexp_matches(doc, '^\s*\{'), false) AS is_object,
           CASE WHEN regexp_matches(doc, '^\s*\{') THEN from_json(doc, '{
               "metadata": {"name": "JSON", "creationTimestamp": "VARCHAR", "labels": "JSON", "annotations": "JSON"},
               "spec": {
                   "type": "VARCHAR",
                   "scope": ["VARCHAR"],
                   "resources": [{"flavor": "VARCHAR", "count": "VARCHAR", "maxCount": "VARCHAR",
                                  "azs": [{"az": "VARCHAR", "count": "VARCHAR"}]}],
                   "network": {"name": "VARCHAR"},
                   "containerNetwork": {"mode": "VARCHAR"},
                   "jobFlavors": ["VARCHAR"],
                   "driver": {"gpuVersion": "VARCHAR", "npuVersion": "VARCHAR", "updateStrategy": "VARCHAR"},
                   "controlMode": "VARCHAR"
               },
               "status": {
                   "phase": "VARCHAR", "message": "VARCHAR", "parent": "VARCHAR", "root": "VARCHAR",
                   "resources": {"creating": "JSON", "available": "JSON", "abnormal": "JSON", "deleting": "JSON"},
                   "scope": [{"scopeType": "VARCHAR", "state": "VARCHAR"}],
                   "driver": {"gpu": {"version": "VARCHAR", "state": "VARCHAR"},
                              "npu": {"version": "VARCHAR", "state": "VARCHAR"}}
               }
           }') END AS p
    FROM items
),
named AS (
    -- p.metadata.name is the JSON text of the value, written compactly by from_json: a string starts with '"'.
    SELECT *,
           CASE WHEN left(p.metadata.name, 1) = '"' THEN json_extract_string(p.metadata.name, '$') END AS name_text
    FROM parsed
),
checked AS (
    SELECT *,
           CASE WHEN NOT regexp_full_match(name_text, '[ \t\n\r\f\v]*') THEN name_text END AS name
    FROM named
),
judged AS (
    SELECT *,
           CASE
               WHEN body_reason IS NOT NULL THEN body_reason
               WHEN empty_list THEN NULL
               WHEN NOT is_object AND source = 'show_pool' THEN 'body is not a JSON object'
               WHEN NOT is_object THEN 'item is not an object'
               WHEN name IS NULL THEN 'pool has no metadata.name'
           END AS reason
    FROM checked
),
cut_items AS (
    SELECT path,
           source,
           body_reason IS NULL AND NOT coalesce(empty_list, false) AS is_doc,
           CASE WHEN source = 'list_pools' AND body_reason IS NULL THEN idx::INTEGER END AS item_index,
           name AS pool_id,
           reason,
           CASE WHEN body_reason IS NOT NULL THEN body_excerpt
                WHEN reason IS NOT NULL THEN left(coalesce(doc::VARCHAR, 'null'), 200) END AS excerpt,
           p,
           CASE WHEN p.spec.containerNetwork.mode IS NULL AND contains(doc, '"containernetwork"')
                THEN json_extract_string(doc, '$.spec.containernetwork.mode') END AS cn_mode_lower
    FROM judged
)
-- The context is joined last, on the narrow (path, source) key, with _bodies (small) as the hash table side:
-- joining before the bodies are cut would put whole bodies into the hash table and serialize the parsing.
-- RIGHT JOIN: a body whose file was not read (unreadable, unknown source) still gets its row.
SELECT b.body_idx,
       b.snapshot_id,
       b.snapshot_at,
       b.region,
       b.project_id,
       b.source,
       b.path,
       b.response_id,
       coalesce(i.is_doc, false) AS is_doc,
       i.item_index,
       b.body_idx::BIGINT * 4294967296 + coalesce(i.item_index, 0) AS doc_key,
       i.pool_id,
       CASE
           WHEN b.source IS NULL OR b.source NOT IN ('list_pools', 'show_pool')
               THEN 'unknown source ' || coalesce(b.source, 'NULL')
           WHEN i.path IS NULL THEN 'body file could not be read'
           ELSE i.reason
       END AS reason,
       i.excerpt,
       i.p,
       i.cn_mode_lower
FROM cut_items AS i
RIGHT JOIN _bodies AS b ON i.path = b.path AND i.source = b.source AND b.readable
