/**
 * `npm run bench:threats`: the cost of threat detection on the ~400-byte JSON POST, as a ratio
 * to a passthrough route of the same gateway in the same run (issue bar: >= 0.80).
 *
 * Routes told apart by Host (the shared run: stage-cost.ts), all forwarding POST /post:
 *   passthrough        explicit public route, no stage (threat detection off for it)
 *   threats            the same route with threat detection on (every header, every JSON
 *                      string and member name decoded and run through every detector)
 *   contract-threats   the operation from an OpenAPI document with request validation and
 *                      threat detection: values the contract proved (enum, email, integers)
 *                      are not scanned
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 */
import { SPEC } from './contract-spec.js';
import { runStageCostBench } from './stage-cost.js';

await runStageCostBench({
  kind: 'threats',
  title: 'Threat detection cost',
  scenarios: ['passthrough', 'threats', 'contract-threats'],
  files: { 'orders.yaml': SPEC },
  config: `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: true }
telemetry: { audit: { enabled: true, destination: stdout } }
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
  - { name: passthrough, methods: [POST], path: /post, hosts: [passthrough.bench], upstream: bench, public: true, stages: { threats: { mode: 'off' } } }
  - { name: threats, methods: [POST], path: /post, hosts: [threats.bench], upstream: bench, public: true }
apis:
  - { name: contract, spec: ./orders.yaml, hosts: [contract-threats.bench], upstream: bench, public: true, stages: { response-contract: { mode: 'off' } } }
`,
  target: { scenario: 'threats', ratio: 0.8, text: 'detection on keeps >= 80 % of passthrough throughput' },
});
