/**
 * V8 settings for a proxy's allocation pattern. Imported first by the CLI entry so they apply
 * before the heap fills up.
 *
 * Allocation-site pretenuring: when the first scavenges see many survivors from one allocation
 * site, V8 starts allocating that site's objects directly in old space. A gateway always has
 * requests in flight, so per-request objects (request, response, headers, buffers) look
 * long-lived to that heuristic, get pretenured, and every request then costs old-space work:
 * measured on the POST benchmark, scavenge time rose from ~160 ms to ~440 ms per 5 s and
 * throughput fell by a third, depending only on what the heap held at start-up.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-allocation-site-pretenuring');
