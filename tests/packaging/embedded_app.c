/*
 * The application of the embedding test (test_packaging_embedded.py): a static program that
 * aws-credfile starts as `/aws-credfile -- /app ARGS...` in a root filesystem holding only
 * the two of them. It does what an SDK's container provider does: GET
 * $AWS_CONTAINER_CREDENTIALS_FULL_URI with $AWS_CONTAINER_AUTHORIZATION_TOKEN as the
 * Authorization header, over plain HTTP to 127.0.0.1.
 *
 * It prints, one per line: `arg VALUE` for each argument, `env NAME` for each AWS_* variable
 * (names only), `status CODE` and `body TEXT` of the answer. Exits 7 when the answer is a 200,
 * so the test also sees aws-credfile pass the status on; 1 on any failure.
 *
 * Built with `musl-gcc -static`: the root filesystem has no loader or libc.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

static int fail(const char *what)
{
    printf("error %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("arg %s\n", argv[i]);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "AWS_", 4) == 0)
            printf("env %.*s\n", (int)strcspn(*e, "="), *e);

    const char *uri = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (!uri || !token)
        return fail("no endpoint handed over");

    /* http://127.0.0.1:PORT/PATH */
    char host[64];
    unsigned port;
    int path_at = 0;
    if (sscanf(uri, "http://%63[0-9.]:%u%n", host, &port, &path_at) != 2 || uri[path_at] != '/')
        return fail("not an http://IPV4:PORT/PATH endpoint");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return fail("bad address");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return fail("cannot connect");
    char request[2048];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nAuthorization: %s\r\n"
                     "Connection: close\r\n\r\n",
                     uri + path_at, host, port, token);
    if (n <= 0 || (size_t)n >= sizeof request || write(fd, request, (size_t)n) != n)
        return fail("cannot send the request");

    static char answer[65536];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof answer - 1 && (r = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
        got += (size_t)r;
    answer[got] = '\0';
    close(fd);

    int status = 0;
    if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1)
        return fail("no status line");
    const char *body = strstr(answer, "\r\n\r\n");
    printf("status %d\nbody %s\n", status, body ? body + 4 : "");
    return status == 200 ? 7 : 1;
}
