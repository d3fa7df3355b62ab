export { default } from '../eslint.workspaces.mjs';
