/** The OpenAPI document of the contract and threat benches (bench/contract.ts, bench/contract-micro.ts, bench/threats.ts). */

/**
 * The `Order` schema the bench POST body (bench/lib.ts POST_BODY) satisfies, as YAML lines under
 * `components.schemas` (also used by bench/full-policy.ts).
 */
export const ORDER_SCHEMA_YAML = `    Order:
      type: object
      required: [orderId, customer, items]
      properties:
        orderId: { type: string, pattern: '^ord-[0-9a-f]{8}$' }
        customer:
          type: object
          required: [id, name, email]
          properties:
            id: { type: string, maxLength: 32 }
            name: { type: string, maxLength: 200 }
            email: { type: string, format: email }
            tier: { type: string, enum: [bronze, silver, gold] }
        items:
          type: array
          minItems: 1
          maxItems: 100
          items:
            type: object
            required: [sku, qty, price]
            properties:
              sku: { type: string, maxLength: 32 }
              qty: { type: integer, minimum: 1 }
              price: { type: number, minimum: 0 }
        shipping:
          type: object
          properties:
            street: { type: string, maxLength: 200 }
            city: { type: string, maxLength: 100 }
            postcode: { type: string, maxLength: 16 }
            country: { type: string, minLength: 2, maxLength: 2 }
        notes: { type: string, maxLength: 1000 }
`;


/** The OpenAPI operation the bench POST body (bench/lib.ts POST_BODY) satisfies. */
export const SPEC = `openapi: 3.1.0
info: { title: orders, version: '1' }
paths:
  /post:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: '#/components/schemas/Order' } } }
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { type: object, required: [ok], properties: { ok: { type: boolean }, received: { type: integer, minimum: 0 } } }
components:
  schemas:
${ORDER_SCHEMA_YAML}`;
