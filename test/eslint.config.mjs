// Tests may use Node's built-ins; the n8n node rules apply to the package's own code.
import workspaces from '../eslint.workspaces.mjs';

export default [
	...workspaces,
	{
		files: ['**/*.cjs'],
		languageOptions: {
			sourceType: 'commonjs',
			globals: { module: 'writable', require: 'readonly' },
		},
	},
];
