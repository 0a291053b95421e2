package kgjemb.neo4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

import org.neo4j.cli.AdminTool;
import org.neo4j.cli.ExecutionContext;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.database.DatabaseContextProvider;
import org.neo4j.kernel.database.AbstractDatabase;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Neo4j's bulk importer ({@code neo4j-admin database import full}) for the launcher, run in
 * the launcher's own JVM, never over the live store: it writes a staging database
 * ({@link #STAGING}) next to {@code neo4j}, and only a finished import is swapped in. A failed
 * import removes the staging files and leaves the previous {@code neo4j} database as it was.
 *
 * <ul>
 * <li>{@link #offline}: before the DBMS starts ({@code --import ARGS_FILE}).</li>
 * <li>{@link #watch}: while the DBMS runs. The launcher polls {@code HOME/import.request}
 *     (a file naming the importer's argument file, written by {@code scripts/neo4j-dev
 *     import}); it imports into the staging database while {@code neo4j} keeps serving, then
 *     stops only the {@code neo4j} database (not the DBMS: Bolt, the system database and the
 *     warm JVM stay), swaps the store and transaction folders and starts it again. Community
 *     Edition refuses {@code STOP/START DATABASE}; the launcher reaches the database's own
 *     lifecycle through the DBMS's dependency resolver instead. The outcome goes to
 *     {@code HOME/import.result}: {@code OK import_ms=.. stop_ms=.. swap_ms=.. start_ms=..}
 *     or {@code FAILED ...}; a database that does not start on the imported store gets the
 *     previous one back.</li>
 * </ul>
 */
final class BulkImport {

    /** the database name the importer writes to before the swap */
    static final String STAGING = "kgjemb-import";
    static final String REQUEST = "import.request";
    static final String RESULT = "import.result";
    private static final String SWAPPING = "import.swapping";
    private static final String DEFAULT = GraphDatabaseSettings.DEFAULT_DATABASE_NAME;
    private static final String[] PARTS = {"databases", "transactions"};

    private BulkImport() {}

    /** Imports before the DBMS starts; exits 3 (previous database kept) on failure. */
    static void offline(Path home, Path argsFile) throws IOException {
        long t0 = System.nanoTime();
        int rc = importStaging(home, argsFile);
        if (rc != 0) {
            System.err.println("KGJEMB-NEO4J IMPORT FAILED exit=" + rc + "; the previous database is kept");
            System.exit(3);
        }
        long t1 = System.nanoTime();
        swapIn(home);  // committed by the launcher once the DBMS has started on it
        System.out.println("KGJEMB-NEO4J IMPORTED import_ms=" + ms(t0, t1) + " swap_ms=" + ms(t1, System.nanoTime()));
        System.out.flush();
    }

    /** Starts a daemon thread that serves import requests of the running DBMS. */
    static void watch(Path home, DatabaseManagementService dbms) throws IOException {
        Files.deleteIfExists(home.resolve(REQUEST));
        Thread thread = new Thread(() -> {
            Path request = home.resolve(REQUEST);
            while (true) {
                try {
                    if (Files.exists(request)) {
                        String args = Files.readString(request, StandardCharsets.UTF_8).strip();
                        Files.delete(request);
                        String result = online(home, dbms, Path.of(args).toAbsolutePath());
                        Path tmp = home.resolve(RESULT + ".tmp");
                        Files.writeString(tmp, result + "\n", StandardCharsets.UTF_8);
                        Files.move(tmp, home.resolve(RESULT), StandardCopyOption.ATOMIC_MOVE,
                                StandardCopyOption.REPLACE_EXISTING);
                        System.out.println("KGJEMB-NEO4J IMPORT " + result);
                        System.out.flush();
                    }
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {  // a bad request must not end the watcher
                    e.printStackTrace();
                }
            }
        }, "kgjemb-import-watch");
        thread.setDaemon(true);
        thread.start();
    }

    private static String online(Path home, DatabaseManagementService dbms, Path argsFile) throws IOException {
        long t0 = System.nanoTime();
        int rc = importStaging(home, argsFile);
        if (rc != 0) {
            return "FAILED exit=" + rc + "; the previous database is kept";
        }
        long t1 = System.nanoTime();
        GraphDatabaseAPI system = (GraphDatabaseAPI) dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        DatabaseContextProvider<?> databases = system.getDependencyResolver()
                .resolveDependency(DatabaseContextProvider.class);
        AbstractDatabase db = databases.getDatabaseContext(DEFAULT).orElseThrow().database();
        db.stop();
        long t2 = System.nanoTime();
        swapIn(home);
        long t3 = System.nanoTime();
        try {
            db.start();
        } catch (RuntimeException e) {
            e.printStackTrace();
            db.stop();
            swapBack(home);
            db.start();
            return "FAILED the database did not start on the imported store (" + e + "); the previous database is back";
        }
        long t4 = System.nanoTime();
        commit(home);
        return "OK import_ms=" + ms(t0, t1) + " stop_ms=" + ms(t1, t2) + " swap_ms=" + ms(t2, t3)
                + " start_ms=" + ms(t3, t4);
    }

    /** Runs the importer into the staging database; its files are removed unless it succeeds. */
    private static int importStaging(Path home, Path argsFile) throws IOException {
        Path conf = home.resolve("conf");
        Files.createDirectories(conf);
        if (!Files.exists(conf.resolve("neo4j.conf"))) {
            Files.createFile(conf.resolve("neo4j.conf"));
        }
        removeTrees(home, STAGING);
        int rc;
        try {
            rc = AdminTool.execute(new ExecutionContext(home, conf), "database", "import", "full", STAGING,
                    "@" + argsFile);
        } catch (RuntimeException e) {
            e.printStackTrace();
            rc = -1;
        }
        if (rc != 0) {
            removeTrees(home, STAGING);
        }
        return rc;
    }

    /**
     * neo4j -> neo4j.old (if any), then staging -> neo4j, for the store and the transaction
     * logs, under a marker file that stays until {@link #commit}: a launcher killed half-way,
     * or whose database does not start on the imported files, finds the marker at its next
     * start and puts the previous database back ({@link #recover}).
     */
    private static void swapIn(Path home) throws IOException {
        removeOld(home);
        Path marker = home.resolve(SWAPPING);
        Files.writeString(marker, "1\n", StandardCharsets.UTF_8);  // phase 1: the old parts move away
        for (String part : PARTS) {
            Path dir = home.resolve("data").resolve(part);
            Files.createDirectories(dir);
            if (Files.exists(dir.resolve(DEFAULT))) {
                Files.move(dir.resolve(DEFAULT), dir.resolve(DEFAULT + ".old"), StandardCopyOption.ATOMIC_MOVE);
            }
        }
        Files.writeString(marker, "2\n", StandardCharsets.UTF_8);  // phase 2: the imported parts move in
        for (String part : PARTS) {
            Path dir = home.resolve("data").resolve(part);
            if (Files.exists(dir.resolve(STAGING))) {
                Files.move(dir.resolve(STAGING), dir.resolve(DEFAULT), StandardCopyOption.ATOMIC_MOVE);
            }
        }
    }

    /**
     * The database started on the imported files: the swap is final (marker and previous
     * files removed). Until then a launcher start rolls the swap back ({@link #recover}).
     */
    static void commit(Path home) throws IOException {
        Files.deleteIfExists(home.resolve(SWAPPING));
        removeOld(home);
    }

    /** Undoes a whole {@link #swapIn}: the imported store is dropped, the old one put back. */
    private static void swapBack(Path home) throws IOException {
        removeTrees(home, DEFAULT);
        for (String part : PARTS) {
            Path dir = home.resolve("data").resolve(part);
            if (Files.exists(dir.resolve(DEFAULT + ".old"))) {
                Files.move(dir.resolve(DEFAULT + ".old"), dir.resolve(DEFAULT), StandardCopyOption.ATOMIC_MOVE);
            }
        }
        Files.deleteIfExists(home.resolve(SWAPPING));
    }

    /**
     * At launcher start: an interrupted swap (the marker is there) is rolled back to the
     * previous database; staging files left by a killed import are removed.
     */
    static void recover(Path home) throws IOException {
        Path marker = home.resolve(SWAPPING);
        if (Files.exists(marker)) {
            System.err.println("KGJEMB-NEO4J an import's swap did not finish (interrupted, or the database did not "
                    + "start on it); the previous database is put back");
            if (Files.readString(marker, StandardCharsets.UTF_8).strip().equals("2")) {
                swapBack(home);  // every old part had moved away: drop what came in, restore them
            } else {  // some old parts moved away, nothing came in: move those back
                for (String part : PARTS) {
                    Path dir = home.resolve("data").resolve(part);
                    if (Files.exists(dir.resolve(DEFAULT + ".old"))) {
                        Files.move(dir.resolve(DEFAULT + ".old"), dir.resolve(DEFAULT), StandardCopyOption.ATOMIC_MOVE);
                    }
                }
                Files.delete(marker);
            }
        }
        removeTrees(home, STAGING);
    }

    private static void removeOld(Path home) throws IOException {
        removeTrees(home, DEFAULT + ".old");
    }

    private static void removeTrees(Path home, String name) throws IOException {
        for (String part : PARTS) {
            deleteTree(home.resolve("data").resolve(part).resolve(name));
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }

    private static long ms(long from, long to) {
        return (to - from) / 1_000_000;
    }
}
