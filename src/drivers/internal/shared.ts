// Kept while the ORM drivers move to the modules they now come from (client-errors.ts and
// mysql2-connections.ts); delete once nothing imports it.
export { separatingErrors } from './client-errors.js';
export { callbackMysqlConnection } from './mysql2-connections.js';
