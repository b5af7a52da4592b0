/**
 * CPU time of a process tree from /proc (user + system, in clock ticks): on a shared, noisy
 * machine the CPU a target spends per request is steadier than its throughput, because other
 * processes take wall time from it but not CPU time.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may hold spaces): field 3 onwards.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of `pid` and every descendant (a gateway with workers is several processes). */
export function treeCpuTicks(pid: number): number {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f !== undefined) parentOf.set(Number(entry), Number(f[1]));
  }
  const inTree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parentOf) {
      if (!inTree.has(child) && inTree.has(parent)) {
        inTree.add(child);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const p of inTree) {
    const f = statFields(p);
    // Fields 14 and 15 (utime, stime) are at index 11 and 12 after the name.
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}
