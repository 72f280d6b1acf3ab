-- Check at_least_one_target_ok: a snapshot in which no target succeeded tells nothing about the fleet.
-- Returns the snapshot when it has no successful target (pass: no row).
--
-- column          type     meaning
-- snapshot_id     VARCHAR  the snapshot
-- targets         INTEGER  targets planned
-- targets_failed  INTEGER  targets with a failed call
SELECT snapshot_id, targets, targets_failed
FROM snapshots
WHERE targets_ok = 0
