import { mkdirSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/*
 * Each node test file gets an n8n of its own, as an operator would set one up: a throwaway user
 * folder (n8n-core keeps its instance settings there, never in the developer's ~/.n8n) and a
 * folder n8n may write files to (N8N_RESTRICT_FILE_ACCESS_TO; n8n's default allows ~/.n8n-files
 * only). Set before n8n-core loads: jest runs this before the test file.
 */
const root = mkdtempSync(join(tmpdir(), 'lih-node-tests-'));
mkdirSync(join(root, 'n8n'));
mkdirSync(join(root, 'files'));
process.env.N8N_USER_FOLDER = join(root, 'n8n');
process.env.N8N_RESTRICT_FILE_ACCESS_TO = join(root, 'files');
// n8n's default: expressions cannot read the environment (tests that need $env turn it off)
process.env.N8N_BLOCK_ENV_ACCESS_IN_NODE = 'true';
delete process.env.ALERTS_DIR;
// n8n's log (warnings and errors) goes to a file a test can read (engine.ts, n8nLog)
process.env.N8N_LOG_LEVEL = 'warn';
process.env.N8N_LOG_OUTPUT = 'file';
process.env.N8N_LOG_FILE_LOCATION = join(root, 'n8n.log');

afterAll(() => rmSync(root, { recursive: true, force: true }));
