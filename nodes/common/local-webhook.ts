import type { IHookFunctions } from 'n8n-workflow';

/** A webhook that lives in n8n itself: there is nothing to register with a third party. */
export const localWebhookMethods = {
	default: {
		async checkExists(this: IHookFunctions): Promise<boolean> {
			return true;
		},
		async create(this: IHookFunctions): Promise<boolean> {
			return true;
		},
		async delete(this: IHookFunctions): Promise<boolean> {
			return true;
		},
	},
};
