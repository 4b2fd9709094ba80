package example.sikader;

import com.sun.net.httpserver.HttpServer;
import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * An agency's integration with SI-KADER, in Java: consumes sikader.certification.v1 (CloudEvents
 * binary headers, read by cloudevents-kafka), validates each body against its published JSON
 * Schema, processes each event once by ce_id (a file of processed ids that survives a restart;
 * offsets committed after processing), receives webhooks verified with Standard Webhooks, and
 * calls one API route with a key. Configuration by environment variables: see README.md.
 * {@code --self-test} checks the Standard Webhooks test vector and exits.
 */
public final class Main {
    private Main() {}

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        if (value != null && !value.isEmpty()) {
            return value;
        }
        if (fallback == null) {
            throw new IllegalStateException("set " + name + " (see README.md)");
        }
        return fallback;
    }

    public static void main(String[] args) throws Exception {
        if (List.of(args).contains("--self-test")) {
            WebhookReceiver.selfTest();
            return;
        }
        ProcessedIds store = new ProcessedIds(Path.of(env("STATE_FILE", "processed-ids.txt")));
        Schemas schemas = new Schemas(Path.of(env("SIKADER_SCHEMA_DIR", "schemas")));
        int port = Integer.parseInt(env("WEBHOOK_PORT", "8090"));
        HttpServer server = new WebhookReceiver(env("WEBHOOK_SECRET", null), store, schemas).start(port);
        try (KafkaConsumer<String, CloudEvent> consumer = new KafkaConsumer<>(consumerConfig())) {
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                consumer.wakeup();
                try {
                    main.join(10_000);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }));
            consumer.subscribe(List.of(env("KAFKA_TOPIC", "sikader.certification.v1")));
            Agency.report(Agency.JSON.createObjectNode().put("event", "ready").put("webhook_port", port));
            consume(consumer, store, schemas);
        } catch (WakeupException stopping) {
            // SIGTERM: the consumer leaves its group cleanly
        } finally {
            server.stop(0);
        }
    }

    private static void consume(KafkaConsumer<String, CloudEvent> consumer, ProcessedIds store, Schemas schemas)
            throws Exception {
        while (true) {
            try {
                for (ConsumerRecord<String, CloudEvent> record : consumer.poll(Duration.ofMillis(500))) {
                    handle(record.value(), store, schemas);
                    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
                    consumer.commitSync(Map.of(tp, new OffsetAndMetadata(record.offset() + 1)));
                }
            } catch (RecordDeserializationException e) { // not a CloudEvent: reported, skipped
                Agency.report(Agency.outcome("invalid", "kafka", "", "").put("errors", e.getMessage()));
                consumer.seek(e.topicPartition(), e.offset() + 1);
            }
        }
    }

    private static void handle(CloudEvent event, ProcessedIds store, Schemas schemas) throws Exception {
        String ceId = event.getId();
        String ceType = event.getType();
        if (!store.firstTime("kafka", ceId)) {
            Agency.report(Agency.outcome("duplicate", "kafka", ceId, ceType));
            return;
        }
        String body = event.getData() == null ? "null" : new String(event.getData().toBytes(), StandardCharsets.UTF_8);
        List<String> errors = schemas.errors(ceType, body);
        if (!errors.isEmpty()) { // a real integration would park it (a dead-letter table); here: reported, skipped
            Agency.report(Agency.outcome("invalid", "kafka", ceId, ceType).put("errors", String.join("; ", errors)));
        } else {
            Agency.process("kafka", ceId, ceType, body);
        }
        store.done("kafka", ceId);
    }

    /** PLAINTEXT by default; SASL_SSL with SCRAM-SHA-512 for an agency's broker account. */
    private static Properties consumerConfig() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"));
        p.put(ConsumerConfig.GROUP_ID_CONFIG, env("KAFKA_GROUP_ID", "opd.dinkes.java-example"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, CloudEventDeserializer.class.getName());
        String protocol = env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT");
        p.put("security.protocol", protocol);
        if (protocol.startsWith("SASL")) {
            String mechanism = env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
            p.put("sasl.mechanism", mechanism);
            p.put("sasl.jaas.config", String.format(
                    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";",
                    env("KAFKA_SASL_USERNAME", null), env("KAFKA_SASL_PASSWORD", null)));
        }
        String ca = System.getenv("KAFKA_SSL_CAFILE");
        if (protocol.endsWith("SSL") && ca != null && !ca.isEmpty()) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", ca);
        }
        return p;
    }
}
