/* The plain send loop `trap send` is compared with: COUNT datagrams of SIZE bytes to
 * 127.0.0.1:PORT, one sendto per datagram, as fast as the kernel takes them. Prints the rate.
 * Usage: send_loop PORT COUNT SIZE */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: send_loop PORT COUNT SIZE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[2]);
    int size = atoi(argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *datagram = malloc(size);
    memset(datagram, 'x', size);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long failed = 0;
    for (long i = 0; i < count; i++)
        if (sendto(fd, datagram, size, 0, (struct sockaddr *)&to, sizeof to) != size)
            failed++;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    printf("%.0f\n", count / seconds);
    if (failed)
        fprintf(stderr, "%ld sendto calls failed\n", failed);
    return 0;
}
