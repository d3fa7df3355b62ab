import { Router, type Request } from 'express';
import * as request from '../api/requests.js';
import { listRulesVersions } from '../db/rules-versions.js';
import { HttpError } from '../errors.js';
import {
	dryRunRules,
	restoreRules,
	rulesVersion,
	saveRules,
	type RulesChange,
	type RulesDeps,
} from '../rules/rules-service.js';
import { input, whoAsks } from './parse.js';
import { ERR } from '../error-codes.js';

/** A rules document's JSON body may be this large (the other operator bodies: 16 KB). */
export const RULES_BODY_LIMIT = 256 * 1024;
/** ... and nest this deep: the zod checks walk it recursively. */
const MAX_DEPTH = 32;

/**
 * The rules document's endpoints (docs/contract.md, "The rules document"). Mounted by the
 * operator router, behind the service token.
 */
export function rulesRouter(deps: RulesDeps): Router {
	const router = Router();

	router.get('/internal/rules', async (req, res) => {
		input(req, {});
		res.json(await rulesVersion(deps, null));
	});

	router.put('/internal/rules', async (req, res) => {
		const body = input(req, { body: request.RulesSaveBody }, shallow);
		res.json(await saveRules(deps, body.document, changeOf(req, body)));
	});

	router.post('/internal/rules/dry-run', async (req, res) => {
		const body = input(req, { body: request.RulesDryRunBody }, shallow);
		res.json(await dryRunRules(deps, body.document, body.limit));
	});

	router.get('/internal/rules/versions', async (req, res) => {
		const query = input(req, { query: request.RulesVersionsQuery });
		res.json({
			versions: await listRulesVersions(deps.sql, {
				limit: query.limit,
				before: query.before ?? null,
			}),
		});
	});

	router.get('/internal/rules/versions/:version', async (req, res) => {
		const { version } = input(req, { params: request.RulesVersionParams });
		res.json(await rulesVersion(deps, version));
	});

	router.post('/internal/rules/versions/:version/restore', async (req, res) => {
		const { version, ...body } = input(req, {
			params: request.RulesVersionParams,
			body: request.RulesRestoreBody,
		});
		res.json(await restoreRules(deps, version, changeOf(req, body)));
	});

	return router;
}

/** Who changes the rules (whoAsks), with the note and the version the change expects. */
function changeOf(
	req: Request,
	body: { actor?: string; note?: string; expected_version?: number },
): RulesChange {
	return {
		changedBy: whoAsks(req, body.actor),
		note: body.note ?? null,
		expectedVersion: body.expected_version ?? null,
		correlationId: String(req.id),
	};
}

/** The body, refused before any recursive check walks it if it nests deeper than MAX_DEPTH. */
function shallow(body: unknown): unknown {
	// each entry keeps its parent, so the path is built only for the one refused
	interface Entry {
		value: unknown;
		depth: number;
		key: string;
		parent: Entry | null;
	}
	const stack: Entry[] = [{ value: body, depth: 0, key: '', parent: null }];
	while (stack.length > 0) {
		const entry = stack.pop()!;
		const { value, depth } = entry;
		if (value === null || typeof value !== 'object') continue;
		if (depth >= MAX_DEPTH) {
			const path: string[] = [];
			for (let at: Entry | null = entry; at?.parent; at = at.parent) path.unshift(at.key);
			const message = `nests objects and arrays deeper than ${MAX_DEPTH} levels`;
			throw new HttpError(
				400,
				ERR.invalid_request,
				`The request body may nest objects and arrays ${MAX_DEPTH} levels deep at most`,
				{ issues: [{ path: path.join('.'), message }] },
			);
		}
		for (const [key, item] of Object.entries(value)) {
			stack.push({ value: item, depth: depth + 1, key, parent: entry });
		}
	}
	return body ?? {};
}
