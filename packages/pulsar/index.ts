/**
 * Our generic Pulsar client: admin REST + WebSocket producer/consumer (see producer.ts for why WebSocket),
 * with optional client-side packing (packing.ts). It knows nothing of the pipeline: the record logs,
 * topics and codecs built on it (log.ts, topics.ts, readings-codec.ts) are not exported here.
 *
 * @example
 * import { PulsarAdmin, PulsarConsumer, PulsarProducer } from "./core/pulsar/index.ts";
 */
export { type AdminOptions, PulsarAdmin, type SchemaDefinition, type StoredSchema } from "./admin.ts";
export {
  type ConsumerOptions,
  PulsarConsumer,
  type PulsarMessage,
  type SubscriptionType,
} from "./consumer.ts";
export {
  defaultPacking,
  type PackingOptions,
  type ProducerOptions,
  PulsarProducer,
  type SendOptions,
} from "./producer.ts";
export { defaultPulsarUrl, parseServiceUrl } from "./service-url.ts";
export { parseTopic, partitionName, type TopicName } from "./topic.ts";
