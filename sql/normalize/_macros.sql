-- Non-table step 0: helper macros shared by every sql/normalize/*.sql file.
-- Run by pipeline/normalize/documents.py before anything else, in its private in-memory database (not TEMP: the
-- table COPYs run on several cursors of that database). Each macro is a pure expression: it never raises,
-- whatever text it is given.
--
-- pool_int(v VARCHAR) -> INTEGER
--     A lenient integer: the JSON number 3 and the JSON string "3" (or " 3 ", "+3", "-3") both give 3.
--     Anything that is not a plain base-10 integer gives NULL: "abc", "2.5", 2.5, "1e3", "0x10", true, {},
--     and values outside the 32-bit range. (DuckDB's own TRY_CAST would round "2.5" to 3 and read "1e3"
--     and "0x10"; the regular expression keeps those out.) Negative values stay negative.
-- pool_bool(v VARCHAR) -> BOOLEAN
--     "1" / "true" -> true, "0" / "false" -> false (case and surrounding blanks ignored), else NULL.
-- pool_ts(v VARCHAR) -> TIMESTAMP WITH TIME ZONE
--     An RFC 3339 / ISO 8601 timestamp ("2022-09-16T03:10:40Z"; an offset is honoured; no offset = UTC,
--     the session time zone). Anything that does not start like a date, or does not parse, gives NULL,
--     so "infinity", "garbage" and "2022-13-45" are NULL, never an error.
-- pool_text(v VARCHAR) -> VARCHAR
--     NULL for NULL and for the empty string, else the value unchanged.
-- k8s_quantity(v VARCHAR) -> DOUBLE
--     A Kubernetes quantity in base units: "5" and 5 -> 5, "1073m" -> 1.073, "64Gi" -> 68719476736,
--     "15548Mi" -> 16302211072, "2k" -> 2000, "1e3" -> 1000 (suffixes m k M G T P E, Ki Mi Gi Ti Pi Ei).
--     Anything else, and negative values, give NULL.

CREATE OR REPLACE MACRO pool_int(v) AS
    CASE WHEN regexp_full_match(v, '\s*[+-]?[0-9]{1,12}\s*') THEN TRY_CAST(v AS INTEGER) END;

CREATE OR REPLACE MACRO pool_bool(v) AS
    CASE lower(trim(v)) WHEN '1' THEN true WHEN 'true' THEN true WHEN '0' THEN false WHEN 'false' THEN false END;

CREATE OR REPLACE MACRO pool_ts(v) AS
    CASE WHEN regexp_matches(v, '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN TRY_CAST(v AS TIMESTAMPTZ) END;

CREATE OR REPLACE MACRO pool_text(v) AS
    NULLIF(v, '');

-- Counts (node counts and pools.subpools_count). A document whose count is present but is not a whole number in
-- 0..2147483647 is rejected (_cut.sql); the table files then read the counts of the documents left:
-- pool_count_ok(v VARCHAR) -> BOOLEAN
--     true when v is absent (NULL: the key is missing or JSON null) or a plain base-10 integer in 0..2147483647,
--     as a JSON number or a JSON string, blanks around it allowed ("3", " 3 ", "+3", "-0"); false for anything
--     else: NaN, Infinity, 1e99999, -1e30, 1e30, 2.5, 3.0, "12abc", "", true, {}, [], -1, 2147483648.
-- pool_count(v VARCHAR) -> INTEGER
--     the count of a document that passed pool_count_ok: its value, and 0 when absent. The service omits absent
--     fields and never sends null (reference §3), and the SDK types every count as an optional int: an entry
--     that names a flavor or an AZ without a count reports no nodes.
-- pool_entries_bad_count(entries LIST) -> VARCHAR
--     the first field of a list of flavor entries ({count, maxCount, azs: [{count}]}, an entry may be NULL) that
--     fails pool_count_ok: 'count', 'maxCount' or 'azs[].count'; NULL when all pass.
-- pool_state_entries(j JSON) -> LIST
--     status.resources.<state>: an ARRAY of flavor entries (the docs) or ONE entry (the SDK), as a list of
--     {count, maxCount, azs: [{count}]} (VARCHAR counts); NULL for anything else.
-- pool_rejected_cap() -> INTEGER
--     rejected_documents lists at most this many documents per body and reason, one by one; the rest of them
--     are one summary row (see rejected_documents.sql).
-- pool_huge_items() -> INTEGER
--     a list body with more items than this is "huge": its rejected items are not kept in _items (memory) but
--     counted by a second pass (_huge_rejected.sql). No real project lists that many pools.
-- pool_utf8_repair(b BLOB, marker VARCHAR) -> VARCHAR
--     the bytes of b as text, each byte that is not part of a valid UTF-8 sequence replaced by marker. b::VARCHAR
--     writes every byte outside printable ASCII (and \ ' ") as \xNN; the runs of valid UTF-8 sequences in that
--     text are decoded back (a VARCHAR cast to BLOB reads \xNN), the lone bytes left are the invalid ones.
--     Linear in the size of b; used only for list bodies that fail decode().

CREATE OR REPLACE MACRO pool_count_ok(v) AS
    v IS NULL OR coalesce(regexp_full_match(v, '\s*[+-]?[0-9]{1,10}\s*')
                          AND TRY_CAST(v AS BIGINT) BETWEEN 0 AND 2147483647, false);

CREATE OR REPLACE MACRO pool_count(v) AS
    coalesce(pool_int(v), 0);

CREATE OR REPLACE MACRO pool_entries_bad_count(entries) AS
    CASE
        WHEN NOT coalesce(list_bool_and(list_transform(entries, lambda e: pool_count_ok(e.count))), true)
            THEN 'count'
        WHEN NOT coalesce(list_bool_and(list_transform(entries, lambda e: pool_count_ok(e.maxCount))), true)
            THEN 'maxCount'
        WHEN NOT coalesce(list_bool_and(list_transform(entries, lambda e: coalesce(
                 list_bool_and(list_transform(e.azs, lambda z: pool_count_ok(z.count))), true))), true)
            THEN 'azs[].count'
    END;

CREATE OR REPLACE MACRO pool_state_entries(j) AS
    CASE left(j, 1)
        WHEN '[' THEN from_json(j, '[{"count": "VARCHAR", "maxCount": "VARCHAR", "azs": [{"count": "VARCHAR"}]}]')
        WHEN '{' THEN [from_json(j, '{"count": "VARCHAR", "maxCount": "VARCHAR", "azs": [{"count": "VARCHAR"}]}')]
    END;

CREATE OR REPLACE MACRO pool_rejected_cap() AS 100;

CREATE OR REPLACE MACRO pool_huge_items() AS 1000;

CREATE OR REPLACE MACRO pool_utf8_repair(b, marker) AS
    array_to_string(list_transform(
        regexp_extract_all(b::VARCHAR,
            '(?:[^\\]|\\x[0-7][0-9A-F]|\\x(?:C[2-9A-F]|D[0-9A-F])\\x[89AB][0-9A-F]'
            || '|\\xE0\\x[AB][0-9A-F]\\x[89AB][0-9A-F]|\\xE[1-9A-CEF]\\x[89AB][0-9A-F]\\x[89AB][0-9A-F]'
            || '|\\xED\\x[89][0-9A-F]\\x[89AB][0-9A-F]'
            || '|\\xF0\\x(?:9[0-9A-F]|[AB][0-9A-F])\\x[89AB][0-9A-F]\\x[89AB][0-9A-F]'
            || '|\\xF[1-3]\\x[89AB][0-9A-F]\\x[89AB][0-9A-F]\\x[89AB][0-9A-F]'
            || '|\\xF4\\x8[0-9A-F]\\x[89AB][0-9A-F]\\x[89AB][0-9A-F])+|\\x[0-9A-F][0-9A-F]'),
        lambda t: CASE WHEN regexp_full_match(t, '\\x[89A-F][0-9A-F]') THEN marker ELSE decode(t::BLOB) END),
        '');

CREATE OR REPLACE MACRO k8s_quantity(v) AS
    CASE WHEN regexp_full_match(trim(v), '\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?')
         THEN TRY_CAST(regexp_extract(trim(v), '^\+?([0-9.]+([eE][+-]?[0-9]+)?)', 1) AS DOUBLE) *
              CASE regexp_extract(trim(v), '(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$', 1)
                   WHEN '' THEN 1.0 WHEN 'm' THEN 1e-3 WHEN 'k' THEN 1e3 WHEN 'M' THEN 1e6 WHEN 'G' THEN 1e9
                   WHEN 'T' THEN 1e12 WHEN 'P' THEN 1e15 WHEN 'E' THEN 1e18 WHEN 'Ki' THEN 1024.0
                   WHEN 'Mi' THEN 1048576.0 WHEN 'Gi' THEN 1073741824.0 WHEN 'Ti' THEN 1099511627776.0
                   WHEN 'Pi' THEN 1125899906842624.0 WHEN 'Ei' THEN 1152921504606846976.0 END END;
