import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from '../src/chromium.js';

/*
 * What an operator sees in the n8n editor: each workflow opened, each of our nodes' panels
 * opened, looking for n8n's error markers (a node's issue icon, a parameter's issue icon) and
 * `[ERROR` previews of expressions. One screenshot per workflow and per node.
 */

interface EditorFinding {
	workflow: string;
	node: string | null;
	problem: string;
}

export interface EditorCheck {
	findings: EditorFinding[];
	/** What was looked at: workflow id -> the node panels opened. */
	opened: Record<string, string[]>;
	screenshots: string[];
}

const OUR_NODE_TYPES = /^n8n-nodes-lead-intake\./;

export async function checkEditor(options: {
	chromiumPath: string;
	baseUrl: string;
	/** The n8n-auth cookie of a logged-in owner. */
	authCookie: string;
	workflowIds: string[];
	screenshotDir: string;
}): Promise<EditorCheck> {
	await mkdir(options.screenshotDir, { recursive: true });
	const browser = await chromium.launch({
		executablePath: options.chromiumPath,
		args: CHROMIUM_ARGS,
		headless: true,
	});
	const result: EditorCheck = { findings: [], opened: {}, screenshots: [] };
	try {
		const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
		await context.addCookies([
			{ name: 'n8n-auth', value: options.authCookie, url: options.baseUrl },
		]);
		const page = await context.newPage();
		for (const id of options.workflowIds) {
			await page.goto(`${options.baseUrl}/workflow/${id}`);
			await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 60_000 });
			// fit the whole workflow into view, as an operator opening it sees it
			await page.keyboard.press('1');
			const names = await page.locator('[data-test-id="canvas-node"]').evaluateAll((nodes) =>
				nodes.map((node) => ({
					name: node.getAttribute('data-node-name') ?? '',
					type: node.getAttribute('data-node-type') ?? '',
				})),
			);
			result.opened[id] = [];
			const canvasIssues = await page.locator('[data-test-id="node-issues"]').count();
			if (canvasIssues > 0) {
				result.findings.push({
					workflow: id,
					node: null,
					problem: `${canvasIssues} node(s) with issues on the canvas`,
				});
			}
			const workflowShot = join(options.screenshotDir, `${id}.png`);
			await page.screenshot({ path: workflowShot });
			result.screenshots.push(workflowShot);
			for (const { name } of names.filter((node) => OUR_NODE_TYPES.test(node.type))) {
				result.opened[id]!.push(name);
				const problems = await openPanel(page, name);
				for (const problem of problems) result.findings.push({ workflow: id, node: name, problem });
				const shot = join(
					options.screenshotDir,
					`${id}--${name.replace(/[^A-Za-z0-9]+/g, '-')}.png`,
				);
				await page.screenshot({ path: shot });
				result.screenshots.push(shot);
				await page.keyboard.press('Escape');
				await page.locator('[data-test-id="ndv"]').waitFor({ state: 'hidden' });
			}
		}
	} finally {
		await browser.close();
	}
	return result;
}

/** Opens a node's panel and reports the error markers and `[ERROR` previews in it. */
async function openPanel(page: Page, nodeName: string): Promise<string[]> {
	await page.locator(`[data-test-id="canvas-node"][data-node-name="${nodeName}"]`).dblclick();
	const panel = page.locator('[data-test-id="ndv"]');
	await panel.waitFor();
	await panel
		.locator('[data-test-id="node-parameters"], [data-test-id="parameter-input"]')
		.first()
		.waitFor();
	const problems: string[] = [];
	const issues = await panel.locator('[data-test-id="parameter-issues"]').count();
	if (issues > 0) problems.push(`${issues} parameter(s) marked with issues`);
	const text = await panel.innerText();
	if (text.includes('[ERROR'))
		problems.push(
			`an [ERROR preview: ${text.slice(text.indexOf('[ERROR'), text.indexOf('[ERROR') + 120)}`,
		);
	return problems;
}
