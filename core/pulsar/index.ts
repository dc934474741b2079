/**
 * Our Pulsar client: admin REST + WebSocket producer/consumer (see producer.ts for why WebSocket).
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
export { type ProducerOptions, PulsarProducer, type SendOptions } from "./producer.ts";
export { defaultPulsarUrl, parseServiceUrl } from "./service-url.ts";
export { parseTopic, partitionName, type TopicName } from "./topic.ts";
