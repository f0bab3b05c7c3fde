/**
 * Typechecked, not run (`tsc -p tsconfig.json`): the client's wire types must stay the api's.
 * A field the api adds, drops or retypes in `RunDto`, a result or the create body fails here,
 * until the OpenAPI document (issue 17 §2) generates both from one source.
 */
import type { RunDto, toResultDto } from '@x/api/src/http/run-dto.js';
import type { createRunSchema } from '@x/api/src/http/run-schemas.js';
import type { CreateRunBody, Result, Run } from '../src/index.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const check = <T extends true>(value: T) => value;

check<Same<Run, RunDto>>(true);
check<Same<Result, ReturnType<typeof toResultDto>>>(true);
// The body the client accepts is a body the api accepts, and the other way round.
// (`_zod.input` is zod 4's `z.input`, read without importing zod.)
check<Same<CreateRunBody, (typeof createRunSchema)['_zod']['input']>>(true);
