"""ShowPoolMonitor (GET /v2/{project_id}/pools/{pool_name}/monitor): measured utilization time series of one pool,
consistent with the fleet (../shared/reference/modelarts-utilization-apis.md section 3).

Query: `time_range=<startMs>.<endMs>.<durationMin>` (default `-1.-1.60`, the last hour; -1 for the start or the
end is computed from the other and the duration, an end past now is now), `statistics` (maximum by default,
minimum, sum, average, sampleCount) and `period` (60 by default, 300, 900, 3600 seconds). At most 1,440 points
per call: `durationMin * 60 / period <= 1440`, else 400.

A point is one period [t, t + period), t aligned to the period, inside [start, end), never before the period
the pool was created in and never after the fleet's clock (a period that started by now has a point: the
current one is partial). Values are a deterministic function of (seed, pool, metric, period start): the
hourly average follows the pool's daily rhythm (runtime.busy_share, the same profile ShowPoolRuntimeMetrics
answers with: idle pools measure 0-5 %, saturated ones high), the maximum of a period is never below its
average, nothing exceeds 100 %. About 2 % of points are `-1`, the service's "no data".
"""

import hashlib
import re
import uuid
from functools import lru_cache
from datetime import datetime, timezone

from pipeline.simulator import errors
from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.pools import PoolState
from pipeline.simulator.runtime import busy_share, profile

BASE_METRICS = ("cpuUsage", "memUsedRate")
GPU_METRICS = ("gpuUtil", "gpuMemUsage")
NPU_METRICS = ("npuUtil", "npuMemUsage")
STATISTICS = ("maximum", "minimum", "sum", "average", "sampleCount")
PERIODS = (60, 300, 900, 3600)
MAX_POINTS = 1440
NO_DATA_SHARE = 0.02
NAMESPACE = "PAAS.AGGR"
IDLE_EFFICIENCY = 0.35  # an idle pool holds at most 15 % of its capacity: it measures at most ~5 %

# The service's answers to a bad monitor query. Neither the code nor the wording is documented for this API:
# ModelArts.50004000 is the service's generic bad-request code (the one the simulator answers a bad `limit`
# with, pools reference section 7), the messages are ours.
MSG_BAD_TIME_RANGE = "Invalid time_range: expected startTimeInMillis.endTimeInMillis.durationInMinutes."
MSG_INCONSISTENT = "Invalid time_range: durationInMinutes does not match endTimeInMillis - startTimeInMillis."
MSG_TOO_MANY_POINTS = "Too many data points: durationInMinutes * 60 / period must be <= 1440."
MSG_BAD_STATISTICS = "Invalid statistics: expected one of maximum, minimum, sum, average, sampleCount."
MSG_BAD_PERIOD = "Invalid period: expected one of 60, 300, 900, 3600."

_INT = re.compile(r"-?[0-9]{1,15}")
_MASK = (1 << 64) - 1


def _bad(message: str) -> errors.ApiError:
    return errors.ApiError(400, "ModelArts.50004000", message, gateway=False)


def metric_names(pool: PoolState) -> list[str]:
    """cpuUsage and memUsedRate always; the GPU pair when the pool has a GPU flavor, the NPU pair for NPU."""
    kinds = {FLAVORS[a.flavor].kind for a in pool.allocations if a.flavor in FLAVORS}
    return [*BASE_METRICS, *(GPU_METRICS if "gpu" in kinds else ()), *(NPU_METRICS if "npu" in kinds else ())]


def cluster_id(seed: int, pool: PoolState) -> str:
    """The CCE cluster behind the pool, shaped like a CCE cluster id (a UUID): one per physical pool, shared by
    its logical sub-pools (they run on their parent's cluster)."""
    digest = hashlib.sha256(f"{seed}:cce:{pool.root or pool.name}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def window(query: dict[str, str], now: datetime) -> tuple[int, int, int, str]:
    """(start ms, end ms, period s, statistic) of a query; raises the service's 400 for a bad one."""
    statistic = query.get("statistics", "maximum")
    if statistic not in STATISTICS:
        raise _bad(MSG_BAD_STATISTICS)
    raw_period = query.get("period", "60")
    if raw_period not in {str(p) for p in PERIODS}:
        raise _bad(MSG_BAD_PERIOD)
    period = int(raw_period)
    parts = query.get("time_range", "-1.-1.60").split(".")
    if len(parts) != 3 or not all(_INT.fullmatch(p) for p in parts):
        raise _bad(MSG_BAD_TIME_RANGE)
    start, end, duration = (int(p) for p in parts)
    if duration <= 0 or start < -1 or end < -1:
        raise _bad(MSG_BAD_TIME_RANGE)
    now_ms = int(now.timestamp() * 1000)
    if start == -1 and end == -1:
        end = now_ms
        start = end - duration * 60_000
    elif start == -1:
        start = end - duration * 60_000
    elif end == -1:
        end = min(start + duration * 60_000, now_ms)
    else:
        # The SDK documents durationMin <= span - 1, the web pages >=: either reading of the boundary is
        # accepted, a duration that is not about the span is not.
        span = (end - start) / 60_000
        if end <= start or abs(duration - span) > 1:
            raise _bad(MSG_INCONSISTENT)
    if duration * 60 / period > MAX_POINTS:
        raise _bad(MSG_TOO_MANY_POINTS)
    return start, end, period, statistic


@lru_cache(maxsize=65536)
def _metric_key(seed: int, pool: str, metric: str) -> tuple[int, float]:
    """The hash key of a pool's metric, and how much of what the pool holds it measures as used."""
    key = int.from_bytes(hashlib.sha256(f"{seed}:monitor:{pool}:{metric}".encode()).digest()[:8], "big")
    efficiency = IDLE_EFFICIENCY if profile(seed, pool) == "idle" else 0.6 + 0.35 * _unit(key, 0, 2)
    return key, efficiency


def _unit(key: int, t: int, salt: int) -> float:
    """A number in [0, 1) from a key, a time and a salt (splitmix64: cheap, so a 1,440-point answer is fast)."""
    z = (key ^ (t * 0x9E3779B97F4A7C15) ^ (salt * 0xD1B54A32D192ED03)) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return ((z ^ (z >> 31)) & _MASK) / 2**64


def point_values(seed: int, pool: str, metric: str, t_ms: int, period: int,
                 shares: dict[int, float] | None = None) -> dict[str, float] | None:
    """Every statistic of one period of one metric, or None when the service has no data for it (-1).
    `shares` caches the pool's busy share per hour across the metrics of one answer."""
    key, efficiency = _metric_key(seed, pool, metric)
    if _unit(key, t_ms, 1) < NO_DATA_SHARE:
        return None
    hour_s = t_ms // 3_600_000 * 3600
    share = shares.get(hour_s) if shares is not None else None
    if share is None:
        share = busy_share(seed, pool, datetime.fromtimestamp(hour_s, timezone.utc))
        if shares is not None:
            shares[hour_s] = share
    average = 100 * share * efficiency
    if period < 3600:  # finer periods wobble around the hour's level
        average += 6 * (_unit(key, t_ms, 3) - 0.5)
    average = min(100.0, max(0.0, average))
    samples = period // 60
    return {
        "average": round(average, 2),
        "maximum": round(min(100.0, average * (1 + 0.4 * _unit(key, t_ms, 4))), 2),
        "minimum": round(average * (1 - 0.5 * _unit(key, t_ms, 5)), 2),
        "sum": round(average * samples, 2),
        "sampleCount": samples,
    }


def pool_monitor(seed: int, pool: PoolState, query: dict[str, str], now: datetime) -> dict:
    """The whole answer for one pool: one entry per metric, its points in time order."""
    start, end, period, statistic = window(query, now)
    step = period * 1000
    first = -(-start // step) * step  # the first period boundary at or after the start
    created = int(pool.created_at.timestamp() * 1000)
    lowest = created // step * step  # the period the pool was created in
    now_ms = int(now.timestamp() * 1000)
    times = range(max(first, lowest), min(end, now_ms + 1), step)
    dimensions = [{"name": "clusterId", "value": cluster_id(seed, pool)}]
    metrics = []
    shares: dict[int, float] = {}
    for name in metric_names(pool):
        points = []
        for t in times:
            values = point_values(seed, pool.name, name, t, period, shares)
            value = -1 if values is None else values[statistic]
            points.append({"timestamp": t, "unit": "Percent", "statistics": [{"statistic": statistic, "value": value}]})
        metrics.append({"metric": {"metricName": name, "namespace": NAMESPACE, "dimensions": dimensions},
                        "dataPoints": points})
    return {"metrics": metrics}
