/**
 * RayScheduler — a time-driven, concurrency-limited task scheduler for Effect.
 *
 * ```ts
 * import { ConsumerRegistry, Scheduler, Task, TaskConsumer } from "ray-scheduler"
 * ```
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ConsumerRegistry from "./scheduler/ConsumerRegistry.js"
/** @since 0.1.0 */
export * as Scheduler from "./scheduler/Scheduler.js"
/** @since 0.1.0 */
export * as Task from "./scheduler/Task.js"
/** @since 0.1.0 */
export * as TaskConsumer from "./scheduler/TaskConsumer.js"
/** @since 0.2.0 */
export * as TaskRun from "./scheduler/TaskRun.js"
/** @since 0.4.0 */
export * as ClusterScheduler from "./scheduler/ClusterScheduler.js"
export * as SchedulerMetrics from "./scheduler/SchedulerMetrics.js"
/** @since 0.6.0 */
export * as SchedulerApi from "./scheduler/SchedulerApi.js"
