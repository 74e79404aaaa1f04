/**
 * The OpenAPI 3.1 document, generated from the route descriptions: every parameter and body schema
 * is `JSONSchema.make` of the same Effect `Schema` the route validates or renders with, so the
 * document cannot drift from the code.
 * @module
 */
import { JSONSchema, type Schema } from "effect"
import { ErrorBody } from "./errors.js"
import type { AnyRoute, ResponseSpec } from "./routes/route.js"
import { openApiPath } from "./routes/table.js"

type Json = Record<string, unknown>

// JSONSchema.make puts named schemas under `$defs`; OpenAPI wants them under components.schemas.
const rewriteRefs = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(rewriteRefs)
  if (value === null || typeof value !== "object") return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === "$ref" && typeof v === "string"
        ? v.replace(/^#\/\$defs\//, "#/components/schemas/")
        : rewriteRefs(v)
  }
  return out
}

const toSchema = (schema: Schema.Schema.Any, components: Json): Json => {
  const {
    $defs,
    $schema: _ignored,
    ...root
  } = JSONSchema.make(schema as Schema.Schema<unknown, unknown, never>, {
    target: "openApi3.1",
  }) as unknown as Json & { $defs?: Json; $schema?: string }
  for (const [name, def] of Object.entries($defs ?? {})) components[name] = rewriteRefs(def)
  return rewriteRefs(root) as Json
}

interface ObjectSchema {
  readonly properties?: Record<string, Json>
  readonly required?: ReadonlyArray<string>
}

const parameters = (schema: Schema.Schema.Any | undefined, where: "path" | "query", components: Json) => {
  if (schema === undefined) return []
  const object = toSchema(schema, components) as ObjectSchema
  const required = new Set(object.required ?? [])
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
    }
  })
}

/** Package facts for the `info` block. */
export interface OpenApiInfo {
  readonly title: string
  readonly version: string
}

/**
 * Builds the OpenAPI document for `routes` (the route table).
 *
 * @example
 * ```ts
 * const doc = openApiDocument(routeTable(config), { title: "azmi-http", version: "0.1.0" })
 * ```
 */
export const openApiDocument = (routes: ReadonlyArray<AnyRoute>, info: OpenApiInfo): Json => {
  const components: Json = {}
  const paths: Record<string, Json> = {}
  for (const route of routes) {
    const responses: Json = {}
    // The route table refuses a missing credential with 401 on every route that declares one.
    const refused: Record<number, ResponseSpec> =
      route.security === undefined
        ? {}
        : {
            401: {
              description:
                route.security === "apiKey"
                  ? "Missing or wrong API key (`Authorization: Bearer <key>`; AZMI_HTTP_API_KEY, when set)"
                  : "Missing or wrong X-IDENTITY-HEADER",
              schema: ErrorBody,
            },
          }
    const declared = Object.entries({ ...route.responses, ...refused }).sort(
      ([a], [b]) => Number(a) - Number(b),
    )
    for (const [status, response] of declared) {
      const headers = Object.fromEntries(
        Object.entries(response.headers ?? {}).map(([name, description]) => [
          name,
          { description, schema: { type: "string" } },
        ]),
      )
      responses[status] = {
        description: response.description,
        ...(Object.keys(headers).length === 0 ? {} : { headers }),
        ...(response.schema === undefined
          ? {}
          : { content: { "application/json": { schema: toSchema(response.schema, components) } } }),
      }
    }
    const operation = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      parameters: [
        ...parameters(route.params, "path", components),
        ...parameters(route.query ?? route.queryDoc, "query", components),
      ],
      ...(route.security === undefined ? {} : { security: [{ [route.security]: [] }] }),
      responses,
    }
    const path = openApiPath(route.path)
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation }
  }
  return {
    openapi: "3.1.0",
    info: {
      ...info,
      description: "Managed-identity tokens and resource-group reads for the processes around it.",
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "AZMI_HTTP_API_KEY, when set" },
        identityHeader: { type: "apiKey", in: "header", name: "X-IDENTITY-HEADER" },
      },
    },
  }
}
