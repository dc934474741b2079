// A Java consumer that knows nothing of our code: it reads the windows topic with the official Pulsar Java
// client (binary protocol) and an Avro schema given as a file (the one the test fetched from Pulsar's schema
// registry), and prints the fields it decoded. Run by core/pulsar/java-consumer.test.ts in Java's single-file
// source mode against the Pulsar distribution's own jars; not part of the product.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.Schema;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.client.api.schema.GenericRecord;
import org.apache.pulsar.common.schema.SchemaInfo;
import org.apache.pulsar.common.schema.SchemaType;

public class ReadWindows {
  // args: serviceUrl topic schemaFile messages subscription
  public static void main(String[] args) throws Exception {
    SchemaInfo info = SchemaInfo.builder()
        .name("windows")
        .type(SchemaType.AVRO)
        .schema(Files.readAllBytes(Path.of(args[2])))
        .properties(Map.of())
        .build();
    Schema<GenericRecord> schema = Schema.generic(info);
    int messages = Integer.parseInt(args[3]);
    try (PulsarClient client = PulsarClient.builder().serviceUrl(args[0]).build();
        Consumer<GenericRecord> consumer = client.newConsumer(schema)
            .topic(args[1])
            .subscriptionName(args[4])
            .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest)
            .subscribe()) {
      for (int i = 0; i < messages; i++) {
        Message<GenericRecord> message = consumer.receive(30, TimeUnit.SECONDS);
        if (message == null) {
          System.err.println("no message within 30 s");
          System.exit(3);
        }
        GenericRecord r = message.getValue();
        System.out.println("WINDOW key=" + message.getKey()
            + " sensor_id=" + r.getField("sensor_id")
            + " count=" + r.getField("count")
            + " mean=" + r.getField("mean")
            + " window_start=" + r.getField("window_start"));
        consumer.acknowledge(message);
      }
    }
  }
}
