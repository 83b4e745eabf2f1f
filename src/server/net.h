/*
 * The network layer's entry points for main.c (implemented in net.c).
 *
 * Order: srv_net_init (main thread's event base; turns on libevent's
 * pthreads locking), srv_net_listen, srv_net_start_workers; on a stop
 * signal srv_net_stop_accepting (closes the listener and tells every
 * worker to finish its in-flight requests and close its clients), then
 * srv_net_join (waits for the workers) and srv_net_free.
 */
#ifndef ORBIT_SERVER_NET_H
#define ORBIT_SERVER_NET_H

struct event_base;
typedef struct srv_net srv_net;

int srv_net_init(srv_net **out, struct event_base **base);
int srv_net_listen(srv_net *n);
int srv_net_start_workers(srv_net *n, int threads);
void srv_net_stop_accepting(srv_net *n);
void srv_net_join(srv_net *n);
void srv_net_free(srv_net *n);

#endif
