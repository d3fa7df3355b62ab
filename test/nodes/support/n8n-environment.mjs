import { TestEnvironment } from 'jest-environment-node';

/**
 * Jest's Node environment with Node's own Error classes. Node makes its errors (fs, net) in its
 * own realm, and n8n-core tells them apart with `error instanceof Error` (its resolvePath, for one,
 * falls back to the parent folder on ENOENT only then). n8n runs in that one realm; jest gives each
 * test file a realm of its own, where the check fails. So the node tier's files see Node's classes.
 */
export default class N8nEnvironment extends TestEnvironment {
	constructor(config, context) {
		super(config, context);
		for (const name of ['Error', 'TypeError', 'RangeError', 'SyntaxError']) {
			this.global[name] = globalThis[name];
		}
	}
}
