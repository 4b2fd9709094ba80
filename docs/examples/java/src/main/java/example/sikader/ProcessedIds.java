package example.sikader;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The ids already processed, one "channel ce_id" line each, appended and fsynced before the offset
 * is committed (or the webhook answered): a restart skips what was done.
 */
final class ProcessedIds {
    private final Path file;
    private final Set<String> seen = new HashSet<>();

    ProcessedIds(Path file) throws IOException {
        this.file = file;
        if (Files.exists(file)) {
            seen.addAll(Files.readAllLines(file));
        }
    }

    synchronized boolean firstTime(String channel, String ceId) {
        return !seen.contains(channel + " " + ceId);
    }

    synchronized void done(String channel, String ceId) throws IOException {
        try (FileOutputStream out = new FileOutputStream(file.toFile(), true)) {
            out.write((channel + " " + ceId + "\n").getBytes(StandardCharsets.UTF_8));
            out.getFD().sync();
        }
        seen.add(channel + " " + ceId);
    }
}
