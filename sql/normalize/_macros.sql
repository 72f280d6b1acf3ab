-- Non-table step 0: helper macros shared by every sql/normalize/*.sql file.
-- Run by pipeline/lake/normalize.py before anything else, in its private in-memory database (not TEMP: the
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

CREATE OR REPLACE MACRO pool_int(v) AS
    CASE WHEN regexp_full_match(v, '\s*[+-]?[0-9]{1,12}\s*') THEN TRY_CAST(v AS INTEGER) END;

CREATE OR REPLACE MACRO pool_bool(v) AS
    CASE lower(trim(v)) WHEN '1' THEN true WHEN 'true' THEN true WHEN '0' THEN false WHEN 'false' THEN false END;

CREATE OR REPLACE MACRO pool_ts(v) AS
    CASE WHEN regexp_matches(v, '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN TRY_CAST(v AS TIMESTAMPTZ) END;

CREATE OR REPLACE MACRO pool_text(v) AS
    NULLIF(v, '');
