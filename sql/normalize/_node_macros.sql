-- Non-table step: macros of the per-pool node and workload tables (nodes.sql, node_resources.sql,
-- workload_statistics.sql), run by pipeline/normalize/step.py before them, after _macros.sql (pool_text,
-- pool_ts, k8s_quantity). Each is a pure expression: it never raises, whatever JSON it is given.
--
-- json_scalar(j JSON, p VARCHAR) -> VARCHAR
--     the value at path p of j as text when it is a JSON string, number or boolean ("Available", 5 -> "5");
--     NULL when absent, null, an object or an array, or the empty string. Keys holding dots and slashes are
--     quoted in the path: '$.metadata.labels."os.modelarts/billing.status"'.
-- json_quantity_text(v JSON) -> VARCHAR
--     a quantity as given, as text: the string's content ("1073m"), or the JSON text of anything else (5, 2.5,
--     {"a": 1}); k8s_quantity() then reads it or gives NULL.
-- json_count(v JSON) -> INTEGER
--     a count given as a JSON integer or a string of digits (3, "3", " 3 "): its value, 0..999999999; NULL for
--     anything else (-1, 2.5, "lots", true, {}, null).

CREATE OR REPLACE MACRO json_scalar(j, p) AS
    CASE WHEN json_type(j, p) IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') THEN pool_text(j ->> p) END;

CREATE OR REPLACE MACRO json_quantity_text(v) AS
    CASE WHEN json_type(v) = 'VARCHAR' THEN v ->> '$' ELSE v::VARCHAR END;

CREATE OR REPLACE MACRO json_count(v) AS
    CASE WHEN json_type(v) IN ('VARCHAR', 'BIGINT', 'UBIGINT')
              AND regexp_full_match(v ->> '$', '\s*[0-9]{1,9}\s*')
         THEN TRY_CAST(trim(v ->> '$') AS INTEGER) END;
