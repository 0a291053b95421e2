package kgjemb.neo4j;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Starts a Neo4j 5 community DBMS with only a Bolt connector, for development and tests.
 *
 * <pre>
 * java -cp target/classes:target/lib/* kgjemb.neo4j.Launcher --data DIR [--port 7687]
 *      [--host 127.0.0.1] [--password PW] [--pagecache 96m] [--import ARGS_FILE]
 * </pre>
 *
 * With {@code --import}, Neo4j's bulk importer ({@code neo4j-admin database import full},
 * run in this JVM before the DBMS starts) first replaces the {@code neo4j} database with the
 * CSVs that ARGS_FILE names (written by {@code kgjemb.graph.neo4j_import}); if it fails, the
 * previous database is kept and the launcher exits with status 3. While it runs, the
 * launcher also imports on request without a restart ({@link BulkImport#watch}: the
 * {@code import.request} file in the data dir). Only for an empty database: the caller
 * checks that.
 *
 * Auth is off unless --password is given; then it is on and the {@code neo4j} user's
 * password is set through the system database. Prints "KGJEMB-NEO4J READY bolt://HOST:PORT"
 * once Bolt accepts connections, and shuts the DBMS down cleanly on SIGTERM / SIGINT.
 */
public final class Launcher {

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        String data = null;
        String host = "127.0.0.1";
        int port = 7687;
        String password = null;
        String pageCache = "96m";
        String importArgs = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--data": data = need(a, v); i++; break;
                case "--port": port = Integer.parseInt(need(a, v)); i++; break;
                case "--host": host = need(a, v); i++; break;
                case "--password": password = need(a, v); i++; break;
                case "--pagecache": pageCache = need(a, v); i++; break;
                case "--import": importArgs = need(a, v); i++; break;
                default:
                    System.err.println("unknown argument " + a
                            + "; choose from --data, --port, --host, --password, --pagecache, --import");
                    System.exit(2);
            }
        }
        if (data == null) {
            System.err.println("--data DIR is required");
            System.exit(2);
        }
        if (password != null && password.length() < 8) {
            System.err.println("--password must have at least 8 characters (Neo4j 5 policy)");
            System.exit(2);
        }
        long t0 = System.nanoTime();
        Path home = Path.of(data).toAbsolutePath();
        BulkImport.recover(home);
        if (importArgs != null) {
            BulkImport.offline(home, Path.of(importArgs).toAbsolutePath());
        }
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, password != null)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.parse(pageCache))
                .setConfig(GraphDatabaseSettings.tx_state_max_off_heap_memory, ByteUnit.mebiBytes(64))
                .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(5))
                // Bolt waits 5 s twice on shutdown by default; a dev/test server need not.
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(200))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(200))
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("KGJEMB-NEO4J STOPPING");
            System.out.flush();
            dbms.shutdown();
            System.out.println("KGJEMB-NEO4J STOPPED");
            System.out.flush();
            stopped.countDown();
        }, "kgjemb-neo4j-shutdown"));
        if (password != null) {
            GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
            // A parameter, not string-built text: the password never becomes Cypher source.
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED",
                    java.util.Map.of("pw", password));
        }
        // Touch the default database so that it is fully started before we say READY.
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        BulkImport.commit(home);  // an --import's swap is final once the database has started on it
        BulkImport.watch(home, dbms);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("KGJEMB-NEO4J READY bolt://" + host + ":" + port + " neo4j="
                + org.neo4j.kernel.internal.Version.getNeo4jVersion() + " started_ms=" + ms
                + " auth=" + (password != null));
        System.out.flush();
        stopped.await();
    }

    private static String need(String flag, String value) {
        if (value == null) {
            System.err.println(flag + " needs a value");
            System.exit(2);
        }
        return value;
    }
}
