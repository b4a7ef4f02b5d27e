// Attribute names: OpenTelemetry's messaging semantic conventions where one fits, `async_task.*`
// for what is ours. Never an argument, plain or encrypted.
export const attr = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  target: 'async_task.target',
  method: 'async_task.method',
  attempt: 'async_task.attempt',
  outcome: 'async_task.outcome',
  status: 'async_task.status',
  table: 'async_task.table',
} as const;

/** `messaging.system`: no registered value names us. */
export const messagingSystem = 'async_task';
