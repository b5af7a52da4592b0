/**
 * Threat detection (the negative security model beside the OpenAPI positive one).
 * See engine.ts for the engine and docs/threats.md for what is detected and how to tune it.
 */
import type { RouteThreatsConfig, ThreatsConfig } from '../config/types.js';
import { DETECTORS } from './detectors/index.js';
import { DEFAULT_SKIP_HEADERS, ThreatEngine } from './engine.js';

export { ThreatEngine, Inspection, DEFAULT_SKIP_HEADERS, DEFAULT_THREAT_LIMITS } from './engine.js';
export type { ExclusionRule, NamedDetector, ThreatLimits, ThreatOptions } from './engine.js';
export { ThreatBodyStage, ThreatHeadStage } from './stage.js';
export { DETECTORS } from './detectors/index.js';
export type * from './types.js';

/** The engine of one route: global settings, the route's overrides, exclusions of both (those limited to other operations left out). */
export function createThreatEngine(global: ThreatsConfig, route: RouteThreatsConfig, operationId: string | undefined): ThreatEngine {
  const exclusions = [...global.exclusions, ...route.exclusions]
    .filter((e) => e.operations === undefined || (operationId !== undefined && e.operations.includes(operationId)))
    .map((e) => ({ detectors: e.detectors, locations: e.locations }));
  return new ThreatEngine({
    paranoia: route.paranoia ?? global.paranoia,
    threshold: route.threshold ?? global.threshold,
    exclusions,
    skipHeaders: new Set([...DEFAULT_SKIP_HEADERS, ...global.ignoreHeaders]),
    cookies: global.cookies,
    limits: global.limits,
    detectors: DETECTORS,
  });
}
