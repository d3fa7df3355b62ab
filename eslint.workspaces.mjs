// Lint rules for the processor, mocks and stack workspaces. The n8n node package at the root
// keeps n8n's own strict config (eslint.config.mjs); `npm run lint` lets ESLint pick, per file,
// the nearest config (ESLint 10's default lookup).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	{ ignores: ['dist/**'] },
	js.configs.recommended,
	tseslint.configs.recommended,
	{
		rules: {
			'@typescript-eslint/no-unused-vars': [
				'error',
				{ argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
			],
		},
	},
);
