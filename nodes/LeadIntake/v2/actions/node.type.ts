import type {
	AllEntities,
	IExecuteFunctions,
	INodeExecutionData,
	INodeOutputConfiguration,
	INodeProperties,
	INodePropertyOptions,
} from 'n8n-workflow';
import type { ProcessorCall, ProcessorCredentials } from '../../processor';

/** Each resource and its operations. Operation values are unique across resources (see router.ts). */
type LeadIntakeMap = {
	lead: 'submitLead';
	run: 'getRun';
	dlqItem: 'listDlq' | 'retryDlqItem' | 'resolveDlqItem' | 'replayDlq' | 'retryDue';
	kpi: 'computeKpi';
	person: 'erasePerson' | 'exportPerson';
	rules: 'getRules' | 'dryRunRules' | 'saveRules' | 'listRulesVersions';
};

export type LeadIntakeType = AllEntities<LeadIntakeMap>;
export type Resource = LeadIntakeType['resource'];
export type Operation = LeadIntakeType['operation'];

/** The processor an execution talks to: its credential (read once per execution) and the call. */
export interface Processor {
	credentials: ProcessorCredentials;
	call: ProcessorCall;
}

/** What every `<operation>.operation.ts` module exports. */
export interface OperationModule {
	/** Its entry in the resource's Operation list. */
	option: INodePropertyOptions & { value: Operation };
	/** The node's subtitle on the canvas while this operation is chosen. */
	subtitle: string;
	/** Its parameters, each shown for this operation only. */
	description: INodeProperties[];
	/** The node's outputs while this operation is chosen. */
	outputs: INodeOutputConfiguration[];
	/** Runs the operation over all input items; one array of items per output. */
	execute(this: IExecuteFunctions, processor: Processor): Promise<INodeExecutionData[][]>;
}
