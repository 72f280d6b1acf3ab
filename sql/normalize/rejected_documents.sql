-- Table rejected_documents: one row per body or pool document that could not be used (severity error), and per
-- document that was used but read with a warning (severity warning). A rejection never stops the run and never
-- affects the other documents of the same body. The raw bytes stay in the landing.
--
-- At most pool_rejected_cap() (100) documents of one body are listed one by one per reason; the others are one
-- summary row (item_index NULL, documents = how many). So a body of ten million empty items gives 101 rows, and
-- sum(documents) is still the exact number of documents concerned.
--
-- column            type         meaning
-- snapshot_id       VARCHAR      snapshot (run)
-- snapshot_at       TIMESTAMPTZ  snapshot time, UTC (run)
-- region            VARCHAR      region (run)
-- project_id        VARCHAR      IAM project id (run)
-- response_id       VARCHAR      landed response the body came from (BodyRef.response_id)
-- source            VARCHAR      list_pools | show_pool (BodyRef.source); or the call of another family's answer
--                                (runtime_metrics, pool_monitor, pool_nodes, ...): those rows come from
--                                sql/normalize/_reject_<pages>.sql, whose header lists their reasons (e.g. "item has
--                                no table object"); item_index then indexes the answer's list (items, metrics)
-- item_index        INTEGER      0-based index in the list body's `items`; NULL when the whole body is rejected,
--                                for a show_pool body (its one document is the body), and for a summary row
-- pool_id           VARCHAR      metadata.name when known (duplicates, invalid counts, repeated keys), else NULL
-- reason            VARCHAR      one of:
--                                  body file could not be read    (missing, not a regular file, unreadable)
--                                  unknown source <source>        (BodyRef.source is not list_pools/show_pool)
--                                  body is not valid UTF-8 text   (a show_pool body, or a list body whose invalid
--                                                                  bytes break its JSON)
--                                  body is empty                  (zero bytes, or only white space)
--                                  body is not valid JSON
--                                  body is not a JSON object      (e.g. [] or "x" or null)
--                                  body has no items array        (list body without an `items` ARRAY)
--                                  item is not valid UTF-8 text   (an items[] element holding a byte that is not
--                                                                  UTF-8; the other items of the body are read)
--                                  item is not an object          (an items[] element such as 3, "x", null, [])
--                                  pool has no metadata.name      (absent, null, not a JSON string, or blank)
--                                  invalid count at <field>: not an integer in 0..2147483647
--                                                                 (<field> e.g. spec.resources[].maxCount,
--                                                                  status.resources.available[].azs[].count,
--                                                                  metadata.annotations."os.modelarts.pool/subpools.count":
--                                                                  NaN, Infinity, 1e99999, -1e30, 2.5, "12abc", -1, ...)
--                                  duplicate pool id in snapshot  (metadata.name already seen in the same
--                                                                  snapshot_id and project_id; the first is kept)
--                                warnings (the document was used):
--                                  repeated key in the document (the last value is read)
--                                                                 ({"count": 1, "count": 5} reads 5, as the SDK
--                                                                  does; excerpt names the keys, at any depth)
--                                  body not checked for repeated keys (a repeated key reads its first value)
--                                                                 (a body over 8 MiB, or too deeply nested for
--                                                                  the landing's check; item_index NULL)
--                                  annotation is not a JSON object (kept raw)
--                                                                 (the value of os.modelarts/flavor.resource.ids or
--                                                                  of an os.modelarts.pool/scope.external.dependency.
--                                                                  <Scope> annotation is not JSON object text: it
--                                                                  stays in pool_annotations and in
--                                                                  pool_scopes.dependency_raw, unparsed; excerpt is
--                                                                  "<key> = <value>")
-- severity          VARCHAR      error: the body or document was not used (every reason above);
--                                warning: the document was used (the three warning reasons above)
-- documents         INTEGER      documents this row stands for: 1, or for a summary row the number of further
--                                documents of the body rejected for the same reason and not listed one by one
-- excerpt           VARCHAR      first 200 characters of the offending text: the body, or the item's JSON (bytes
--                                that are not UTF-8 appear as \xNN escapes in a body, as U+FFFD in an item); NULL
--                                when the file was not read; for a summary row, a sentence with the count; for a
--                                repeated key, "repeated: " and the key names
-- kept_response_id  VARCHAR      for a duplicate: the response holding the document that was kept, else NULL
-- kept_item_index   INTEGER      for a duplicate: that document's item_index, else NULL
WITH listed AS (
    SELECT body_idx, snapshot_id, snapshot_at, region, project_id, response_id, source, item_index, pool_id,
           reason, 'error' AS severity, excerpt, NULL::VARCHAR AS kept_response_id, NULL::INTEGER AS kept_item_index,
           NULL::BIGINT AS total
    FROM _items
    WHERE reason IS NOT NULL
    UNION ALL
    SELECT r.body_idx, r.snapshot_id, r.snapshot_at, r.region, r.project_id, r.response_id, r.source, r.item_index,
           r.pool_id, 'duplicate pool id in snapshot', 'error', e.excerpt, k.response_id, k.item_index, NULL
    FROM _dups AS x
    JOIN _items AS r ON r.doc_key = x.doc_key
    JOIN _items AS k ON k.doc_key = x.kept_key
    LEFT JOIN _dup_excerpts AS e
           ON e.path = r.path AND e.source = r.source AND e.item_index IS NOT DISTINCT FROM r.item_index
    UNION ALL
    SELECT b.body_idx, b.snapshot_id, b.snapshot_at, b.region, b.project_id, b.response_id, b.source,
           h.f.item_index, h.f.pool_id, h.reason, 'error', h.f.excerpt, NULL, NULL, h.n
    FROM (SELECT path, source, reason, n, unnest(firsts) AS f FROM _huge_rejected) AS h
    JOIN _bodies AS b ON b.path = h.path AND b.source = h.source AND b.readable
    UNION ALL
    SELECT b.body_idx, b.snapshot_id, b.snapshot_at, b.region, b.project_id, b.response_id, b.source, w.item_index,
           w.pool_id, w.reason, 'warning', w.excerpt, NULL, NULL, NULL
    FROM _key_warnings AS w
    JOIN _bodies AS b USING (body_idx)
    UNION ALL
    SELECT i.body_idx, d.snapshot_id, d.snapshot_at, d.region, d.project_id, d.response_id, d.source, d.item_index,
           d.pool_id, 'annotation is not a JSON object (kept raw)', 'warning',
           left(d.kv[1] || ' = ' || d.kv[2], 200), NULL, NULL, NULL
    FROM (
        -- Only documents whose annotations mention one of the keys pay for walking their keys.
        SELECT doc_key, snapshot_id, snapshot_at, region, project_id, response_id, source, item_index, pool_id,
               unnest(list_filter(
                   list_zip(json_keys(p.metadata.annotations), json_extract_string(p.metadata.annotations, '$.*')),
                   lambda kv: (kv[1] = 'os.modelarts/flavor.resource.ids'
                               OR (starts_with(kv[1], 'os.modelarts.pool/scope.external.dependency.')
                                   AND length(kv[1]) > 44))
                              AND kv[2] IS NOT NULL
                              -- json_valid, not try(): try() in a lambda costs ~15x
                              AND NOT coalesce(CASE WHEN json_valid(kv[2]) THEN json_type(kv[2]) = 'OBJECT' END,
                                               false))) AS kv
        FROM docs
        WHERE (contains(p.metadata.annotations::VARCHAR, 'scope.external.dependency.')
               OR contains(p.metadata.annotations::VARCHAR, 'os.modelarts/flavor.resource.ids'))
          AND json_type(p.metadata.annotations) = 'OBJECT'
    ) AS d
    JOIN _items AS i USING (doc_key)
),
ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY body_idx, reason ORDER BY item_index) AS rank,
           coalesce(total, count(*) OVER (PARTITION BY body_idx, reason)) AS n
    FROM listed
)
SELECT snapshot_id, snapshot_at, region, project_id, response_id, source, item_index, pool_id, reason, severity,
       1 AS documents, excerpt, kept_response_id, kept_item_index
FROM ranked
WHERE rank <= pool_rejected_cap()
UNION ALL
SELECT snapshot_id, snapshot_at, region, project_id, response_id, source, NULL, NULL, reason, severity,
       (n - pool_rejected_cap())::INTEGER,
       (n - pool_rejected_cap()) || ' more documents of this body with this reason, not listed one by one',
       NULL, NULL
FROM ranked
WHERE rank = 1 AND n > pool_rejected_cap()
