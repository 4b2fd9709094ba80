package example.sikader;

import com.standardwebhooks.Webhook;
import com.standardwebhooks.exceptions.WebhookVerificationException;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;

/** Receives webhooks, verifies their Standard Webhooks signature, processes each ce_id once. */
final class WebhookReceiver {
    private final Webhook webhook;
    private final ProcessedIds store;
    private final Schemas schemas;

    WebhookReceiver(String secret, ProcessedIds store, Schemas schemas) throws Exception {
        this.webhook = new Webhook(secret);
        this.store = store;
        this.schemas = schemas;
    }

    HttpServer start(int port) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", this::handle);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        return server;
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            Map<String, List<String>> headers = new HashMap<>(); // the library reads lower-case names
            exchange.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(), v));
            try {
                webhook.verify(body, headers);
            } catch (WebhookVerificationException e) {
                Agency.report(Agency.outcome("rejected", "webhook", "", "").put("reason", e.getMessage()));
                answer(exchange, 401, "signature does not verify");
                return;
            }
            String ceId = headers.get("webhook-id").get(0);
            String ceType = headers.getOrDefault("ce-type", List.of("")).get(0);
            if (!store.firstTime("webhook", ceId)) {
                Agency.report(Agency.outcome("duplicate", "webhook", ceId, ceType));
                answer(exchange, 200, "");
                return;
            }
            List<String> errors = schemas.errors(ceType, body);
            if (!errors.isEmpty()) {
                Agency.report(Agency.outcome("invalid", "webhook", ceId, ceType).put("errors", String.join("; ", errors)));
                answer(exchange, 400, String.join("; ", errors));
                return;
            }
            Agency.process("webhook", ceId, ceType, body);
            store.done("webhook", ceId);
            answer(exchange, 200, "");
        } catch (Exception e) {
            answer(exchange, 503, String.valueOf(e.getMessage())); // the sender retries
        }
    }

    private static void answer(HttpExchange exchange, int status, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** The Standard Webhooks specification's test vector, then a fresh and a tampered message. */
    static void selfTest() throws Exception {
        Webhook webhook = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        String signature = webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330L, "{\"test\": 2432232314}");
        if (!"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".equals(signature)) {
            throw new AssertionError("test vector: " + signature);
        }
        long now = Instant.now().getEpochSecond();
        Map<String, List<String>> headers = Map.of(
                "webhook-id", List.of("msg_1"),
                "webhook-timestamp", List.of(Long.toString(now)),
                "webhook-signature", List.of("v1,bogus " + webhook.sign("msg_1", now, "{\"a\":1}")));
        webhook.verify("{\"a\":1}", headers);
        try {
            webhook.verify("{\"a\":2}", headers);
        } catch (WebhookVerificationException expected) {
            Agency.report(Agency.JSON.createObjectNode().put("event", "self-test").put("ok", true));
            return;
        }
        throw new AssertionError("a tampered body verified");
    }
}
