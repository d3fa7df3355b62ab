import type { IDisplayOptions, INodeProperties } from 'n8n-workflow';

/**
 * The properties, each shown only where `show` says as well as where it already was (n8n's
 * `updateDisplayOptions`): an operation module writes its parameters once, without repeating
 * `operation: [...]` on each.
 */
export function showOnlyFor(
	show: NonNullable<IDisplayOptions['show']>,
	properties: INodeProperties[],
): INodeProperties[] {
	return properties.map((property) => ({
		...property,
		displayOptions: {
			...property.displayOptions,
			show: { ...show, ...property.displayOptions?.show },
		},
	}));
}
