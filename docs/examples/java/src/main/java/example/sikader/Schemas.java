package example.sikader;

import com.networknt.schema.Error;
import com.networknt.schema.ExecutionContext;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The published JSON Schemas, one file per ce_type, from SIKADER_SCHEMA_DIR. */
final class Schemas {
    private final Path dir;
    private final SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private final Map<String, Schema> cache = new HashMap<>();

    Schemas(Path dir) {
        this.dir = dir;
    }

    // "format" (dates) asserted, as the other three examples do; 2020-12 only annotates it by default
    private static void asserting(ExecutionContext context) {
        context.executionConfig(config -> config.formatAssertionsEnabled(true));
    }

    synchronized List<String> errors(String ceType, String body) throws IOException {
        Schema schema = cache.get(ceType);
        if (schema == null) {
            Path file = dir.resolve(ceType + ".json");
            if (!Files.exists(file)) {
                return List.of("no published schema for " + ceType);
            }
            schema = registry.getSchema(Files.readString(file), InputFormat.JSON);
            cache.put(ceType, schema);
        }
        try {
            return schema.validate(body, InputFormat.JSON, Schemas::asserting).stream().map(Error::toString).toList();
        } catch (RuntimeException notJson) {
            return List.of("not JSON: " + notJson.getMessage());
        }
    }
}
