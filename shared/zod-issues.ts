/**
 * A zod error as z.flattenError shapes it: what the server sends in `data.zodError`, and what
 * config parsing produces. One way to put it into words for people.
 */
export interface FlatZodError {
  formErrors: string[];
  fieldErrors: Record<string, string[] | undefined>;
}

/** One line per problem: the form-level ones as they are, then `field: message, message`. */
export function describeZodError(flat: FlatZodError): string[] {
  const fields = Object.entries(flat.fieldErrors).map(([field, messages]) => `${field}: ${(messages ?? []).join(', ')}`);
  return [...flat.formErrors, ...fields];
}
