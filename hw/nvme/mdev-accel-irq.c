/*
 * nvme-accel: completion interrupts through KVM irqfds
 *
 * Every MSI-X vector has an eventfd. Under KVM with MSI routing through
 * irqfd, that eventfd is bound to the vector's MSI route, so whoever posts a
 * completion (an iothread here, the kvm-accel module later) interrupts the
 * guest without QEMU. While the guest masks a vector the irqfd is unbound
 * and the main loop reads the eventfd instead, which turns into the vector's
 * pending bit. Without KVM the main loop always reads it (what TCG and qtest
 * exercise). This is virtio-pci's scheme (hw/virtio/virtio-pci.c).
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msix.h"
#include "hw/pci/msi.h"
#include "system/kvm.h"
#include "mdev-accel.h"
#include "trace.h"

static int nvme_accel_vector_unmask(PCIDevice *dev, unsigned vector,
                                    MSIMessage msg)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    NvmeAccelVector *v = &n->vectors[vector];
    int ret;

    if (v->virq < 0) {
        return 0;
    }
    ret = kvm_irqchip_update_msi_route(kvm_state, v->virq, msg, dev);
    if (ret < 0) {
        return ret;
    }
    kvm_irqchip_commit_routes(kvm_state);
    if (v->irqfd_active) {
        return 0;
    }
    /* KVM consumes the eventfd from now on. */
    event_notifier_set_handler(&v->notifier, NULL);
    ret = kvm_irqchip_add_irqfd_notifier_gsi(kvm_state, &v->notifier, NULL,
                                             v->virq);
    if (ret < 0) {
        event_notifier_set_handler(&v->notifier, nvme_accel_vector_handler);
        trace_nvme_accel_err_irqfd(vector, ret);
        return ret;
    }
    v->irqfd_active = true;
    trace_nvme_accel_irqfd_unmask(vector, v->virq);
    return 0;
}

static void nvme_accel_vector_mask(PCIDevice *dev, unsigned vector)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    NvmeAccelVector *v = &n->vectors[vector];

    if (!v->irqfd_active) {
        return;
    }
    kvm_irqchip_remove_irqfd_notifier_gsi(kvm_state, &v->notifier, v->virq);
    v->irqfd_active = false;
    /* Signals while masked become the vector's pending bit. */
    event_notifier_set_handler(&v->notifier, nvme_accel_vector_handler);
    trace_nvme_accel_irqfd_mask(vector);
}

static void nvme_accel_vector_poll(PCIDevice *dev, unsigned start,
                                   unsigned end)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    unsigned vector;

    for (vector = start; vector < end && vector < n->nr_qpairs; vector++) {
        if (msix_is_masked(dev, vector) &&
            event_notifier_test_and_clear(&n->vectors[vector].notifier)) {
            msix_set_pending(dev, vector);
        }
    }
}

bool nvme_accel_irqfd_init(NvmeAccelCtrl *n, Error **errp)
{
    PCIDevice *pci = PCI_DEVICE(n);
    KVMRouteChange c;
    unsigned i;
    int ret;

    for (i = 0; i < n->nr_qpairs; i++) {
        n->vectors[i].virq = -1;
    }
    if (!kvm_msi_via_irqfd_enabled() || !msix_present(pci)) {
        return true;
    }
    c = kvm_irqchip_begin_route_changes(kvm_state);
    for (i = 0; i < n->nr_qpairs; i++) {
        ret = kvm_irqchip_add_msi_route(&c, i, pci);
        if (ret < 0) {
            kvm_irqchip_commit_route_changes(&c);
            error_setg_errno(errp, -ret, "could not add an MSI route");
            goto err;
        }
        n->vectors[i].virq = ret;
    }
    kvm_irqchip_commit_route_changes(&c);
    ret = msix_set_vector_notifiers(pci, nvme_accel_vector_unmask,
                                    nvme_accel_vector_mask,
                                    nvme_accel_vector_poll);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "could not set MSI-X vector notifiers");
        goto err;
    }
    return true;

err:
    nvme_accel_irqfd_cleanup(n);
    return false;
}

void nvme_accel_irqfd_cleanup(NvmeAccelCtrl *n)
{
    PCIDevice *pci = PCI_DEVICE(n);
    unsigned i;

    if (!n->vectors || !kvm_msi_via_irqfd_enabled()) {
        return;
    }
    if (pci->msix_vector_use_notifier) {
        msix_unset_vector_notifiers(pci);
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelVector *v = &n->vectors[i];

        if (v->irqfd_active) {
            nvme_accel_vector_mask(pci, i);
        }
        if (v->virq >= 0) {
            kvm_irqchip_release_virq(kvm_state, v->virq);
            v->virq = -1;
        }
    }
}
