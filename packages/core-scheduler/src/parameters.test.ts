import { describe, expect, it } from 'vitest';
import { checkArguments, parametersSchema, type ParameterSpec } from './parameters.js';

const specs: Record<string, ParameterSpec> = {
  id: { type: 'integer', description: 'the user' },
  q: { type: 'string', required: false },
  tags: { type: 'array', required: false },
  opts: { type: 'object', required: false },
  n: { type: 'number', required: false },
  on: { type: 'boolean', required: false },
};

describe('checkArguments', () => {
  it.each([
    [{ id: 1, q: 'x', tags: [], opts: {}, n: 1.5, on: true }, undefined],
    [{}, 'Missing required argument "id" (integer)'],
    [{ id: 1.5 }, 'Argument "id" must be an integer, got number'],
    [{ id: '1' }, 'Argument "id" must be an integer, got string'],
    [{ id: 1, tags: 'a' }, 'Argument "tags" must be an array, got string'],
    [{ id: 1, opts: [] }, 'Argument "opts" must be an object, got array'],
    [{ id: 1, n: Number.NaN }, 'Argument "n" must be a number, got number'],
    [{ id: 1, extra: 1 }, 'Unknown argument "extra"'],
    [[1], 'Expected the arguments to be an object, got array'],
  ])('%j', (args, message) => {
    if (message === undefined) expect(checkArguments(specs, args)).toBe(args);
    else expect(() => checkArguments(specs, args)).toThrow(message);
  });

  it('builds the JSON Schema a model sees', () => {
    expect(parametersSchema({ id: specs['id']!, q: specs['q']! })).toEqual({
      type: 'object',
      properties: { id: { type: 'integer', description: 'the user' }, q: { type: 'string' } },
      required: ['id'],
      additionalProperties: false,
    });
  });
});
