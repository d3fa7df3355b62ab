import { createCipheriv, createDecipheriv, hkdfSync, randomFillSync } from 'node:crypto';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface LeadCipher {
	encrypt(plaintext: Buffer): Buffer;
	decrypt(sealed: Buffer): Buffer;
}

/**
 * AES-256-GCM for the raw lead kept until delivery. Layout: version (1) | iv (12) | tag (16) |
 * ciphertext. The key is derived from LEAD_ENCRYPTION_KEY, so any long passphrase works.
 */
export function createLeadCipher(secret: string): LeadCipher {
	const key = Buffer.from(hkdfSync('sha256', secret, 'lead-intake-hub', 'lead-vault-v1', 32));
	const nextIv = randomIvs();
	return {
		encrypt(plaintext) {
			const iv = nextIv();
			const cipher = createCipheriv('aes-256-gcm', key, iv);
			const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
			return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext]);
		},
		decrypt(sealed) {
			if (sealed[0] !== VERSION) throw new Error(`unknown lead vault format ${sealed[0]}`);
			const iv = sealed.subarray(1, 1 + IV_BYTES);
			const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
			const decipher = createDecipheriv('aes-256-gcm', key, iv);
			decipher.setAuthTag(tag);
			return Buffer.concat([
				decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)),
				decipher.final(),
			]);
		},
	};
}

/**
 * Fresh random IVs, drawn from the CSPRNG 256 at a time as crypto.randomUUID does: one call per
 * lead cost ~5 % of the processor's CPU in the intake profile (each is a system call here). An IV
 * is a view into the pool, valid until the next call: encrypt copies it before that.
 */
function randomIvs(): () => Buffer {
	const pool = Buffer.alloc(IV_BYTES * 256);
	let offset = pool.length;
	return () => {
		if (offset === pool.length) {
			randomFillSync(pool);
			offset = 0;
		}
		offset += IV_BYTES;
		return pool.subarray(offset - IV_BYTES, offset);
	};
}
