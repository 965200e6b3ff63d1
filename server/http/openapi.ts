import { z } from 'zod';
import { appRouter } from '../routers/_app.ts';
import { REST_ROUTES } from './rest-routes.ts';

type Json = Record<string, unknown>;
interface ProcDef {
  inputs: z.ZodType[];
  output?: z.ZodType;
}

/** The procedure's zod schemas, as tRPC keeps them. */
export function procedureDef(path: string): ProcDef {
  const proc = (appRouter._def.procedures as unknown as Record<string, { _def: ProcDef }>)[path];
  if (!proc) throw new Error(`no procedure ${path}`);
  return proc._def;
}

/** Dates travel as ISO strings in JSON. */
const toJson = (schema: z.ZodType, io: 'input' | 'output'): Json =>
  z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema._zod.def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as Json;

export function inputJsonSchema(path: string): Json | undefined {
  const input = procedureDef(path).inputs[0];
  return input ? toJson(input, 'input') : undefined;
}

const errorBody = {
  type: 'object',
  required: ['code', 'message', 'cofferCode'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, cofferCode: { type: ['string', 'null'] } },
};

/** The OpenAPI 3.1 document served at /api/v1/openapi.json. */
export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of REST_ROUTES) {
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
    const input = inputJsonSchema(route.procedure);
    const props = (input?.properties ?? {}) as Record<string, Json>;
    const required = new Set((input?.required as string[] | undefined) ?? []);
    const parameters = pathParams.map((name) => ({ name, in: 'path', required: true, schema: props[name] ?? { type: 'string' } }));
    const op: Json = {
      operationId: route.procedure,
      summary: route.summary,
      security: [{ bearer: [] }],
      parameters,
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: outputSchema(route.procedure) } } },
        default: { description: 'Error', content: { 'application/json': { schema: errorBody } } },
      },
    };
    const rest = Object.fromEntries(Object.entries(props).filter(([k]) => !pathParams.includes(k)));
    if (route.method === 'GET') {
      for (const [name, schema] of Object.entries(rest)) parameters.push({ name, in: 'query', required: required.has(name), schema });
    } else if (Object.keys(rest).length > 0) {
      const body = { ...input, properties: rest, required: [...required].filter((k) => !pathParams.includes(k)) };
      op.requestBody = { required: true, content: { 'application/json': { schema: body } } };
    }
    const openApiPath = route.path.replace(/:(\w+)/g, '{$1}');
    paths[`/api/v1${openApiPath}`] = { ...paths[`/api/v1${openApiPath}`], [route.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Coffer REST API', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

function outputSchema(path: string): Json {
  const output = procedureDef(path).output;
  return output ? toJson(output, 'output') : {};
}
