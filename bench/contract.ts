/**
 * `npm run bench:contract`: the cost of contract validation on the ~400-byte JSON POST, as a
 * ratio to a passthrough route of the same gateway in the same run (issue bar: >= 0.90).
 *
 * Routes told apart by Host (the shared run: stage-cost.ts), all forwarding POST /post:
 *   passthrough        explicit public route, no stage
 *   contract-request   the operation from an OpenAPI document: Content-Type, JSON limits, schema
 *                      validation of the body, strict mode (response checks off)
 *   contract-full      the same plus the response contract (leak guard, response validation in
 *                      monitor mode, undeclared-property stripping: the response is buffered)
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 */
import { SPEC } from './contract-spec.js';
import { runStageCostBench } from './stage-cost.js';

await runStageCostBench({
  kind: 'contract',
  title: 'Contract validation cost',
  scenarios: ['passthrough', 'contract-request', 'contract-full'],
  files: { 'orders.yaml': SPEC },
  config: `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
  - { name: passthrough, methods: [POST], path: /post, hosts: [passthrough.bench], upstream: bench, public: true }
apis:
  - { name: request, spec: ./orders.yaml, hosts: [contract-request.bench], upstream: bench, public: true, stages: { response-contract: { mode: 'off' } } }
  - { name: full, spec: ./orders.yaml, hosts: [contract-full.bench], upstream: bench, public: true }
`,
  target: { scenario: 'contract-request', ratio: 0.9, text: 'request validation costs at most 10 % of passthrough throughput' },
});
