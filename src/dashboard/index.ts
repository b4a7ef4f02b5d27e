// async-task/dashboard: the web dashboard as a Web-standard handler, and its Node adapter.
export {
  dashboard,
  type ConnectionInfo,
  type DashboardHandler,
  type DashboardOptions,
} from './dashboard.js';
export { DashboardForbiddenError, DashboardUnauthorizedError } from './errors.js';
export { nodeListener } from './node.js';
