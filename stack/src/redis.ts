import { Redis } from 'ioredis';

function client(redisUrl: string): Redis {
	return new Redis(redisUrl, {
		lazyConnect: true,
		connectTimeout: 2000,
		maxRetriesPerRequest: 0,
		retryStrategy: () => null,
	});
}

/** True when the Redis at `redisUrl` answers a PING. */
export async function redisReachable(redisUrl: string): Promise<boolean> {
	const redis = client(redisUrl);
	redis.on('error', () => undefined);
	try {
		await redis.connect();
		return (await redis.ping()) === 'PONG';
	} catch {
		return false;
	} finally {
		redis.disconnect();
	}
}

/** Removes every key under `prefix` (a throwaway queue-mode stack's queue, locks and caches). */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
	const redis = client(redisUrl);
	redis.on('error', () => undefined);
	let deleted = 0;
	try {
		await redis.connect();
		for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
			if ((keys as string[]).length) deleted += await redis.unlink(...(keys as string[]));
		}
		// Bull wraps a cluster-safe prefix in braces
		for await (const keys of redis.scanStream({ match: `{${prefix}}:*`, count: 500 })) {
			if ((keys as string[]).length) deleted += await redis.unlink(...(keys as string[]));
		}
		return deleted;
	} finally {
		redis.disconnect();
	}
}
