-- Non-table step 1: the table macro pool_cut, which reads landed body files once and cuts them into candidate
-- pool documents, each parsed once. normalize.py creates it (after _macros.sql); _items.sql calls it over every
-- body, _huge_rejected.sql again over the huge list bodies only.
--
-- pool_cut(list0, ..., list7, with_show) -> TABLE
--   list0 .. list7  VARCHAR[]  distinct readable paths of list_pools bodies ({"kind":"PoolList","items":[Pool...]})
--                              dealt into 8 lists (a list may be empty). One read_blob scan runs on one thread, and
--                              everything after it (cutting, parsing) runs in that scan's pipeline; the branches of
--                              a UNION ALL run in parallel, so 8 lists keep up to 8 cores busy.
--   with_show       BOOLEAN    also cut the show_pool bodies (one Pool each) staged in TABLE _show_raw
--
-- Files are read with read_blob, not read_text: read_text stops the whole query on one body that is not valid
-- UTF-8. A body is decoded with try(decode(...)); a list body that is not valid UTF-8 is cut from its text with
-- each invalid byte replaced (pool_utf8_repair, twice, by U+FFFD and by '?'): an item whose text differs between
-- the two holds an invalid byte and is rejected; its neighbours are read. (An invalid byte outside every string
-- breaks the JSON itself: the body is rejected whole.)
--
-- Output: one row per candidate document (an `items[]` element of a list body, or a whole show_pool body), plus one
-- row for a body that yields no document (not readable as JSON, or an empty `items`), plus one marker row per huge
-- list body (more than pool_huge_items() items).
--   path          VARCHAR  the body file
--   source        VARCHAR  list_pools | show_pool
--   is_doc        BOOLEAN  true for a candidate document; false for a whole-body row (a rejection, the marker row of
--                          a list body whose `items` is empty, or the marker row of a huge body)
--   item_index    INTEGER  0-based index in `items` for list bodies; NULL for show_pool bodies and whole-body rows
--                          (a huge body's marker row: the number of items)
--   huge          BOOLEAN  the row belongs to a huge list body
--   pool_id       VARCHAR  metadata.name when it is a JSON string that is not blank (not only ASCII white space),
--                          else NULL; kept exactly as sent (not trimmed)
--   reason        VARCHAR  why the row is unusable (see rejected_documents.sql); NULL for a usable document
--                          (duplicate pool ids are found later, in _dups.sql)
--   excerpt       VARCHAR  for a rejected row: first 200 characters of the body (whole-body rejection; bytes that
--                          are not UTF-8 appear as \xNN escapes) or of the document's JSON (an invalid UTF-8 byte
--                          appears as U+FFFD); else NULL (a duplicate's excerpt is re-read by _dup_excerpts.sql).
--                          The raw document itself is not kept: the landing keeps the bytes, and copying 2 kB per
--                          pool here cost more than parsing it.
--   p             STRUCT   the document parsed once with the lenient schema below (NULL unless it is an object).
--                          from_json never fails on a well-formed document: a field of the wrong JSON type is NULL,
--                          or for a VARCHAR field the JSON text of the value ({"a":1}, 3, true). Counts stay VARCHAR
--                          here; table files convert them with pool_count (see _macros.sql).
--                          metadata.labels/annotations and status.resources.<state> stay JSON: their shape varies.
--   count_suspect BOOLEAN  a usable document whose text holds a suspect count (see Counts below): _bad_counts.sql
--                          checks it exactly
--   cn_mode_lower VARCHAR  spec.containernetwork.mode, the SDK's lowercase key (the schema reads the docs'
--                          spec.containerNetwork; JSON keys are case sensitive and a STRUCT cannot hold both).
--                          Extracted only when spec.containerNetwork.mode is absent and the document's text
--                          contains that key.
--
-- Counts: a document is rejected when one of its counts (spec.resources[].count/maxCount/azs[].count,
-- status.resources.<state>[].count/maxCount/azs[].count, the annotation os.modelarts.pool/subpools.count) is
-- present but fails pool_count_ok. Checking every count of every document costs list lambdas (and binding those
-- expressions alone took 40 ms per query); so here a document is only flagged (count_suspect) when its text holds
-- a suspect value: a key ending in `ount"` whose value is not a JSON integer of at most 9 digits, null, or a string
-- of at most 9 digits. A bad count always matches (any other value does: a sign, a fraction, an exponent, 10 digits,
-- NaN, Infinity, true, an object, a string with anything else), so the check is exact; a match on another key
-- ("amount") only costs that document the exact check, which _bad_counts.sql makes, when any document is flagged.
-- A show_pool body is the text as landed, not rewritten by the JSON writer: there, white space around ':' is
-- allowed, and a body holding a \u escape (a key may be spelled with one) is always flagged.
CREATE OR REPLACE MACRO pool_cut(list0, list1, list2, list3, list4, list5, list6, list7, with_show) AS TABLE
WITH raw AS (
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list0)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list1)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list2)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list3)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list4)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list5)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list6)
    UNION ALL
    SELECT filename AS path, 'list_pools' AS source, content FROM read_blob(list7)
    UNION ALL
    SELECT path, 'show_pool' AS source, content FROM _show_raw WHERE with_show
),
decoded AS (
    SELECT path, source, content, try(decode(content)) AS text
    FROM raw
),
repaired AS (
    -- Only for a list body that is not valid UTF-8 (CASE evaluates its branch for those rows only).
    SELECT path, source, content, text,
           CASE WHEN text IS NULL AND source = 'list_pools' THEN pool_utf8_repair(content, '\uFFFD') END AS text_a,
           CASE WHEN text IS NULL AND source = 'list_pools' THEN pool_utf8_repair(content, '?') END AS text_b
    FROM decoded
),
split AS (
    -- '$.items[*]': the elements of a top-level object's `items` array, each as its JSON text; [] for anything
    -- else (no `items`, `items` not an array, a body that is not an object), NULL for text that is not JSON.
    -- A third cheaper than from_json(text, '{"items": "JSON[]"}'), which also builds a struct around the list.
    SELECT path, source, content, text, text_a,
           CASE WHEN source = 'list_pools' THEN try(json_extract(coalesce(text, text_a), '$.items[*]')) END
               AS all_items,
           CASE WHEN text_b IS NOT NULL THEN try(json_extract(text_b, '$.items[*]')) END AS items_b
    FROM repaired
),
cut AS (
    SELECT path, source, content, text,
           CASE
               WHEN source = 'list_pools' AND text IS NULL THEN
                   -- repaired: usable when both repairs give the same number of items
                   CASE
                       WHEN len(all_items) > 0 AND len(all_items) = len(items_b) THEN all_items
                       WHEN len(all_items) = 0 AND try(json_type(text_a, '$.items')) = 'ARRAY' THEN []::JSON[]
                   END
               WHEN source = 'list_pools' THEN
                   CASE
                       WHEN len(all_items) > 0 THEN all_items
                       -- only for an empty result (rare): an empty `items` array, or no items array at all?
                       WHEN try(json_type(text, '$.items')) = 'ARRAY' THEN []::JSON[]
                   END
               WHEN json_valid(text) THEN [text::JSON]
           END AS doc_list,
           CASE WHEN text IS NULL AND source = 'list_pools' AND len(all_items) > 0
                     AND len(all_items) = len(items_b)
                THEN list_transform(range(len(all_items)), lambda i: all_items[i + 1] <> items_b[i + 1]) END
               AS utf8_bad
    FROM split
),
bodies AS (
    -- The lists to unnest are computed here, not inside unnest(...): an expression in unnest() is evaluated again
    -- for every vector of its output, which made a body of 10 million items quadratic (minutes instead of seconds).
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
           CASE WHEN doc_list IS NULL THEN left(coalesce(text, content[1:800]::VARCHAR), 200) END AS body_excerpt,
           len(doc_list) = 0 AS empty_list,
           len(doc_list) AS n_items,
           coalesce(len(doc_list) > pool_huge_items(), false) AS huge,
           CASE WHEN len(doc_list) > 0 THEN doc_list ELSE [NULL::JSON] END AS docs,
           utf8_bad,
           -- a huge body gets one more row, its marker: the index list is one longer (unnest pads doc with NULL)
           range(greatest(coalesce(len(doc_list), 1), 1)
                 + CASE WHEN len(doc_list) > pool_huge_items() THEN 1 ELSE 0 END) AS idxs
    FROM cut
),
items AS (
    -- A body without a document list becomes one row with doc NULL and its reason; a list body with an empty
    -- `items` becomes one marker row (is_doc false, reason NULL), so that the join in _items.sql sees the file was
    -- read.
    SELECT path, source, body_reason, body_excerpt, empty_list, n_items, huge,
           unnest(docs) AS doc,
           unnest(utf8_bad) AS utf8_bad,
           unnest(idxs) AS idx
    FROM bodies
),
parsed AS (
    SELECT *,
           huge AND idx = n_items AS marker,
           coalesce(regexp_matches(doc, '^\s*\{'), false) AS is_object,
           CASE WHEN regexp_matches(doc, '^\s*\{') AND NOT coalesce(utf8_bad, false) THEN from_json(doc, '{
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
           }') END AS p,
           regexp_matches(doc, 'ount"\s*:\s*(?:-|[0-9]{10}|[0-9]{1,9}[^0-9,}\]\s]|[^-0-9n"\s]|n[^u]'
                               || '|"(?:[^0-9]|[0-9]{10}|[0-9]{1,9}[^0-9"]))')
               OR (source = 'show_pool' AND contains(doc, '\u')) AS count_suspect
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
               WHEN empty_list OR marker THEN NULL
               WHEN utf8_bad THEN 'item is not valid UTF-8 text'
               WHEN NOT is_object AND source = 'show_pool' THEN 'body is not a JSON object'
               WHEN NOT is_object THEN 'item is not an object'
               WHEN name IS NULL THEN 'pool has no metadata.name'
           END AS reason
    FROM checked
)
SELECT path,
       source,
       body_reason IS NULL AND NOT coalesce(empty_list, false) AND NOT marker AS is_doc,
       CASE WHEN source = 'list_pools' AND body_reason IS NULL AND NOT coalesce(empty_list, false) THEN idx::INTEGER
           END AS item_index,
       huge,
       name AS pool_id,
       reason,
       CASE WHEN body_reason IS NOT NULL THEN body_excerpt
            WHEN reason IS NOT NULL THEN left(coalesce(doc::VARCHAR, 'null'), 200) END AS excerpt,
       p,
       count_suspect AND reason IS NULL AND p IS NOT NULL AS count_suspect,
       CASE WHEN p.spec.containerNetwork.mode IS NULL AND contains(doc, '"containernetwork"')
            THEN json_extract_string(doc, '$.spec.containernetwork.mode') END AS cn_mode_lower
FROM judged
