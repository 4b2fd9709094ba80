package example.sikader;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** What the agency does with an event: here, look the certificate up with its key and report it. */
final class Agency {
    static final String CERTIFIED = "sikader.certification.CadreCertified.v1";
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private Agency() {}

    /** One JSON line per outcome on stdout: what the CI test reads. */
    static synchronized void report(ObjectNode fields) {
        System.out.println(fields.put("example", "java").toString());
        System.out.flush();
    }

    static ObjectNode outcome(String event, String via, String ceId, String ceType) {
        return JSON.createObjectNode().put("event", event).put("via", via).put("ce_id", ceId).put("ce_type", ceType);
    }

    static void process(String via, String ceId, String ceType, String body) throws IOException, InterruptedException {
        JsonNode data = JSON.readTree(body);
        ObjectNode out = outcome("processed", via, ceId, ceType).put("cadre_id", data.path("cadre_id").asText());
        if (CERTIFIED.equals(ceType)) {
            String certificateId = data.get("certificate_id").asText();
            out.put("certificate_number", data.get("certificate_number").asText()).put("level", data.get("level").asText());
            for (JsonNode c : certificatesOf(data.get("cadre_id").asText())) {
                if (certificateId.equals(c.path("certificate_id").asText())) {
                    out.put("api_status", c.path("status").asText()).put("api_level", c.path("level").asText());
                }
            }
        }
        report(out);
    }

    /** The one API call: the holder's certificates at certification, with the agency's key. */
    static JsonNode certificatesOf(String cadreId) throws IOException, InterruptedException {
        String base = Main.env("SIKADER_API_URL", null).replaceAll("/$", "");
        HttpRequest request = HttpRequest.newBuilder(
                        URI.create(base + "/certificates?cadre_id=" + URLEncoder.encode(cadreId, StandardCharsets.UTF_8)))
                .header("Authorization", "Bearer " + Main.env("SIKADER_API_KEY", null))
                .timeout(Duration.ofSeconds(10))
                .GET()
                .build();
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("GET /certificates: " + response.statusCode());
        }
        return JSON.readTree(response.body());
    }
}
